"""When to poll a recipient's conversation for the status of an announcement (spec §3.3 step 3).

The API pushes no receipts, and each poll is one request from the same budget as sending, so a
recipient is polled a few times after its batch was sent, further apart as time goes on (by
default 1 min, 10 min, 1 h and 24 h), and no more once its message is READ, which is final.

The schedule is stateless: the next poll is the first scheduled time after the poll that just
ran, so a worker that was down or throttled polls once when it comes back rather than replaying
every poll it missed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from worker.messaging.imrest.status import DeliveryStatus

#: Seconds after sending: 1 min, 10 min, 1 h, 24 h (spec §3.3, an [ASSUMPTION]).
DEFAULT_POLL_DELAYS: tuple[float, ...] = (60.0, 600.0, 3600.0, 86400.0)
#: A bound on polls per recipient, so a misconfigured schedule cannot spend the whole budget.
MAX_POLLS = 20


@dataclass(frozen=True, slots=True)
class PollSchedule:
    """Poll at ``sent_at + d`` for each ``d`` of ``delays`` (seconds, strictly increasing)."""

    delays: tuple[float, ...] = DEFAULT_POLL_DELAYS

    def __post_init__(self) -> None:
        delays = self.delays
        if not 1 <= len(delays) <= MAX_POLLS:
            raise ValueError(f"poll_delays must hold 1 to {MAX_POLLS} delays")
        if delays[0] <= 0 or any(b <= a for a, b in zip(delays, delays[1:], strict=False)):
            raise ValueError("poll_delays must be positive and strictly increasing")

    @classmethod
    def of(cls, delays: Sequence[float]) -> PollSchedule:
        return cls(tuple(float(delay) for delay in delays))

    @property
    def polls_at_most(self) -> int:
        """Requests one recipient can cost (each poll of a one-message conversation is one)."""
        return len(self.delays)

    def first(self, sent_at: float) -> float:
        """When to poll a recipient first, for a batch sent at ``sent_at``."""
        return sent_at + self.delays[0]

    def after(
        self, sent_at: float, polled_at: float, status: DeliveryStatus | None
    ) -> float | None:
        """When to poll next after a poll at ``polled_at`` saw ``status``; ``None``: never.

        READ is final; otherwise the next scheduled time after ``polled_at``, and ``None``
        past the last one (the status stays what the last poll saw).
        """
        if status == "READ":
            return None
        for delay in self.delays:
            if sent_at + delay > polled_at:
                return sent_at + delay
        return None
