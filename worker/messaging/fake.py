"""An in-memory ``Transport`` for unit tests of the layers above ``worker/messaging``.

``FakeTransport`` behaves like the real transports where the pipeline can notice: batches are
all-or-nothing, over-limit batches are refused with ``InvalidData`` (by ``check_batch``: a
provider's own check, for example ``MixinProvider.check_batch``, or by default the count limit
alone), re-sending an accepted ``message_id`` is a harmless no-op (``duplicate_sends`` counts
them), and errors can be injected for the next N calls or for any batch that contains a given
message id. It knows no provider::

    fake = FakeTransport()
    fake.fail_next(RateLimited("Too Many Requests.", code=429), times=2)
    fake.fail_for("6f0c...", Forbidden("Forbidden.", code=403))
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

from worker.messaging.errors import InvalidData, MessagingError
from worker.messaging.transport import OutgoingMessage

ErrorSource = MessagingError | Callable[[], MessagingError]
BatchCheck = Callable[[Sequence[OutgoingMessage]], None]
DEFAULT_MAX_MESSAGES = 100


class FakeTransport:
    """Records every call; accepts or fails batches as it was told."""

    name = "fake"

    def __init__(self, check_batch: BatchCheck | None = None) -> None:
        self._check_batch = check_batch or _count_only
        self._lock = threading.Lock()
        self._next_failures: list[ErrorSource] = []
        self._failures_by_id: dict[str, ErrorSource] = {}
        self._accepted_ids: set[str] = set()
        #: Every call's batch, accepted or not, in call order.
        self.calls: list[list[OutgoingMessage]] = []
        #: The batches the "provider" accepted, in order.
        self.batches: list[list[OutgoingMessage]] = []
        #: Messages accepted again after they had already been accepted (the retry no-ops).
        self.duplicate_sends = 0
        self.closed = False

    def fail_next(self, error: ErrorSource, times: int = 1) -> None:
        """Make the next ``times`` calls raise ``error`` (an instance, or a factory of one)."""
        with self._lock:
            self._next_failures.extend([error] * times)

    def fail_for(self, message_id: str, error: ErrorSource) -> None:
        """Make every batch containing ``message_id`` raise ``error``, until ``clear_failures``."""
        with self._lock:
            self._failures_by_id[message_id] = error

    def clear_failures(self) -> None:
        """Forget every injected failure."""
        with self._lock:
            self._next_failures.clear()
            self._failures_by_id.clear()

    def send_messages(self, messages: Sequence[OutgoingMessage]) -> None:
        """Accept the batch unless an injected failure or a batch limit applies."""
        batch = list(messages)
        with self._lock:
            if self.closed:
                raise RuntimeError("FakeTransport used after close()")
            self.calls.append(batch)
            self._check_batch(batch)
            if self._next_failures:
                raise _materialize(self._next_failures.pop(0))
            for message in batch:
                failure = self._failures_by_id.get(message.message_id)
                if failure is not None:
                    raise _materialize(failure)
            for message in batch:
                if message.message_id in self._accepted_ids:
                    self.duplicate_sends += 1
                self._accepted_ids.add(message.message_id)
            self.batches.append(batch)

    @property
    def sent_messages(self) -> list[OutgoingMessage]:
        """Every accepted message, duplicates included, in acceptance order."""
        with self._lock:
            return [message for batch in self.batches for message in batch]

    @property
    def delivered_ids(self) -> set[str]:
        """The distinct message ids a user would see (each once, however often re-sent)."""
        with self._lock:
            return set(self._accepted_ids)

    def close(self) -> None:
        """Mark the transport closed; later sends raise ``RuntimeError``."""
        with self._lock:
            self.closed = True


def _count_only(messages: Sequence[OutgoingMessage]) -> None:
    if not messages:
        raise ValueError("a batch needs at least one message")
    if len(messages) > DEFAULT_MAX_MESSAGES:
        raise InvalidData(
            f"batch holds {len(messages)} messages; at most {DEFAULT_MAX_MESSAGES} are allowed",
            extra={"field": "messages", "count": len(messages), "limit": DEFAULT_MAX_MESSAGES},
        )


def _materialize(source: ErrorSource) -> MessagingError:
    return source if isinstance(source, MessagingError) else source()
