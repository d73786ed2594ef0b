"""``BlazeClient``: the bot's Blaze websocket, for sending batches and for listening.

Two roles, one class:

- **sender** (``subscribe=False``): ``send_messages`` (``CREATE_PLAIN_MESSAGES``, <= 100),
  ``create_message``, ``acknowledge``. The socket is opened on first use and, after a drop,
  re-opened lazily by the next call; a call whose reply never comes raises ``RequestTimeout``.
  It never sends ``LIST_PENDING_MESSAGES``, so the server pushes it nothing.
- **listener** (``subscribe=True``): ``run_forever(stop)`` connects, sends
  ``LIST_PENDING_MESSAGES``, hands every receipt and incoming message to ``on_push`` (in the
  ``run_forever`` thread, never the reader's), and reconnects with capped jittered backoff.

On a 401 (ERROR frame, refused upgrade, or error reply) the client stops for good: it probes
``GET /me`` once, latches an ``Unauthorized`` that says in plain words whether the clock or the
credentials are wrong, and raises it from every later call without touching the network.
"""

from __future__ import annotations

import copy
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from worker.messaging.errors import ConnectionLost, MessagingError, TransientError, Unauthorized
from worker.messaging.mixin.backoff import reconnect_delay
from worker.messaging.mixin.batching import check_batch
from worker.messaging.mixin.blaze_connection import BlazeConnection, PushHandler, open_connection
from worker.messaging.mixin.frames import ServerFrame
from worker.messaging.mixin.http import HttpTransport
from worker.messaging.mixin.keystore import Keystore
from worker.messaging.mixin.payloads import PLAIN_CATEGORIES
from worker.messaging.mixin.push_buffer import Full, PushBuffer
from worker.messaging.mixin.tokens import sign_request_token
from worker.messaging.transport import ACK_STATUSES, IncomingMessage, OutgoingMessage, Receipt

log = logging.getLogger(__name__)

#: Receipts per ``ACKNOWLEDGE_MESSAGE_RECEIPTS`` frame (undocumented; SG uses 80, HTTP allows 100).
MAX_ACKS_PER_FRAME = 100
Probe = Callable[[str | None], Unauthorized]


class BlazeClient:
    """A Blaze websocket client; thread-safe for concurrent requests."""

    name = "blaze"

    def __init__(
        self,
        keystore: Keystore,
        blaze_url: str,
        api_url: str,
        *,
        on_push: Callable[[Receipt | IncomingMessage], None] | None = None,
        subscribe: bool = False,
        request_timeout: float = 5.0,
        connect_timeout: float = 5.0,
        ping_interval: float = 9.0,
        liveness_timeout: float | None = None,
        backoff_base: float = 1.0,
        backoff_cap: float = 30.0,
        stable_after: float = 10.0,
        push_buffer: int = 10_000,
        clock: Callable[[], float] = time.time,
        probe: Probe | None = None,
    ) -> None:
        self._keystore = keystore
        self._blaze_url = blaze_url
        self._api_url = api_url
        self._on_push = on_push
        self._subscribe = subscribe
        self._request_timeout = request_timeout
        self._connect_timeout = connect_timeout
        self._ping_interval = ping_interval
        # Pings go out every ping_interval and are answered at once; two missed ones mean dead.
        self._liveness_timeout = liveness_timeout or 2 * ping_interval + connect_timeout
        self._backoff_base = backoff_base
        self._backoff_cap = backoff_cap
        self._stable_after = stable_after
        self._clock = clock
        self._probe = probe or self._probe_with_http
        self._pushes: PushBuffer[Receipt | IncomingMessage] = PushBuffer(push_buffer)
        self._connection_lock = threading.RLock()
        self._connection: BlazeConnection | None = None
        self._auth_lock = threading.Lock()
        self._unauthorized: Unauthorized | None = None
        self._closed = False
        #: How many websocket connections this client has opened (for logs and tests).
        self.connections_opened = 0

    def __repr__(self) -> str:
        return f"BlazeClient(blaze_url={self._blaze_url!r}, app_id={self._keystore.app_id!r})"

    @property
    def connected(self) -> bool:
        """True while a websocket is open."""
        connection = self._connection
        return connection is not None and connection.alive

    def send_messages(self, messages: Sequence[OutgoingMessage]) -> None:
        """``CREATE_PLAIN_MESSAGES``: the whole batch is accepted, or this raises."""
        others = sorted({m.category for m in messages if m.category not in PLAIN_CATEGORIES})
        if others:
            # CREATE_PLAIN_MESSAGES is documented for PLAIN_* only; BlazeTransport sends the
            # other categories over HTTP (spec, "What blazecast relies on" 5).
            raise ValueError(f"CREATE_PLAIN_MESSAGES cannot carry {', '.join(others)}")
        check_batch(messages)
        self._call("CREATE_PLAIN_MESSAGES", {"messages": [m.to_wire() for m in messages]})

    def create_message(self, message: OutgoingMessage) -> dict[str, Any]:
        """``CREATE_MESSAGE`` for one message; returns the status-only view (``status`` SENT)."""
        frame = self._call("CREATE_MESSAGE", message.to_wire())
        return frame.data if isinstance(frame.data, dict) else {}

    def acknowledge(self, message_ids: Sequence[str], status: str = "READ") -> None:
        """Acknowledge received user messages with ``ACKNOWLEDGE_MESSAGE_RECEIPTS`` (<= 100 each)."""
        if status not in ACK_STATUSES:
            raise ValueError(f"status must be one of {', '.join(ACK_STATUSES)}, not {status!r}")
        for start in range(0, len(message_ids), MAX_ACKS_PER_FRAME):
            chunk = message_ids[start : start + MAX_ACKS_PER_FRAME]
            receipts = [{"message_id": message_id, "status": status} for message_id in chunk]
            self._call("ACKNOWLEDGE_MESSAGE_RECEIPTS", {"messages": receipts})

    def run_forever(self, stop: threading.Event) -> None:
        """Listen until ``stop`` is set; reconnect on drops; raise ``Unauthorized`` on a 401.

        Pushes are handed to ``on_push`` from this thread. An exception from ``on_push`` is
        logged and the loop goes on: one bad push must not stop every later receipt.
        """
        attempt = 0
        try:
            while not stop.is_set() and not self._closed:
                try:
                    connection = self._open()
                except TransientError as exc:
                    delay = self._delay(attempt)
                    attempt += 1
                    log.warning("blaze connect failed (%s); retrying in %.1f s", exc, delay)
                    self._back_off(stop, delay)
                    continue
                connected_at = time.monotonic()
                self._dispatch(connection, stop)
                if stop.is_set():
                    break
                reason = connection.end_reason
                if isinstance(reason, Unauthorized):
                    raise self._diagnosed(reason)
                if time.monotonic() - connected_at >= self._stable_after:
                    attempt = 0
                delay = self._delay(attempt)
                attempt += 1
                log.warning("blaze connection lost (%s); reconnecting in %.1f s", reason, delay)
                self._back_off(stop, delay)
        finally:
            self._drop_connection()

    def close(self) -> None:
        """Close the websocket; later calls raise ``ConnectionLost``."""
        self._closed = True
        self._drop_connection()

    # -- internals -------------------------------------------------------------------------

    def _call(self, action: str, params: Mapping[str, Any] | None) -> ServerFrame:
        connection = self._open()
        try:
            return connection.request(action, params, self._request_timeout)
        except Unauthorized as exc:
            raise self._diagnosed(exc) from None

    def _open(self) -> BlazeConnection:
        """The live connection, opening (and subscribing) a new one if there is none."""
        with self._connection_lock:
            if self._unauthorized is not None:
                raise copy.copy(self._unauthorized)
            if self._closed:
                raise ConnectionLost("the Blaze client is closed")
            if self._connection is not None and self._connection.alive:
                return self._connection
            self._drop_connection()
            # The websocket token signs GET / with an empty body (spec §1.2).
            token = sign_request_token(self._keystore, "GET", "/", now=self._clock())
            try:
                connection = open_connection(
                    self._blaze_url,
                    token,
                    own_user_id=self._keystore.app_id,
                    on_push=self._enqueue_push if self._on_push is not None else None,
                    connect_timeout=self._connect_timeout,
                    ping_interval=self._ping_interval,
                    liveness_timeout=self._liveness_timeout,
                )
            except Unauthorized as exc:
                raise self._diagnosed(exc) from None
            self.connections_opened += 1
            self._connection = connection
            if self._subscribe:
                # Nothing is pushed until LIST_PENDING_MESSAGES; send it after every connect.
                try:
                    connection.request("LIST_PENDING_MESSAGES", None, self._request_timeout)
                except Unauthorized as exc:
                    raise self._diagnosed(exc) from None
                except MessagingError:
                    self._drop_connection()
                    raise
            return connection

    def _dispatch(self, connection: BlazeConnection, stop: threading.Event) -> None:
        """Hand pushes to ``on_push`` until the connection ends (and its pushes are drained)."""
        while not stop.is_set():
            # Everything waiting, in one go: receipts come in bursts, and one wake-up per burst
            # instead of per receipt is most of this thread's cost.
            pushes = self._pushes.take(1000, timeout=0.1)
            if not pushes:
                if not connection.alive:
                    return
                continue
            if self._on_push is None:
                continue
            for push in pushes:
                try:
                    self._on_push(push)
                except Exception:
                    log.exception("on_push failed for %r", push)

    def _enqueue_push(self, push: Receipt | IncomingMessage) -> None:
        try:
            self._pushes.put(push, timeout=3.0)
        except Full:
            # The consumer is stuck; drop the connection rather than grow without bound. The
            # server re-pushes unacknowledged messages on the next LIST_PENDING_MESSAGES.
            raise ConnectionLost("push buffer full; on_push is not keeping up") from None

    def _diagnosed(self, exc: Unauthorized) -> Unauthorized:
        """Probe ``GET /me`` once, latch the explained ``Unauthorized``, return a copy of it."""
        with self._auth_lock:
            if self._unauthorized is None:
                self._unauthorized = self._probe(exc.request_id)
                log.error("blaze stopped: %s", self._unauthorized)
            latched = self._unauthorized
        self._drop_connection()
        return copy.copy(latched)

    def _probe_with_http(self, request_id: str | None) -> Unauthorized:
        http = HttpTransport(
            self._keystore, self._api_url, self._request_timeout, clock=self._clock
        )
        try:
            return http.probe_unauthorized(request_id)
        finally:
            http.close()

    def _drop_connection(self) -> None:
        with self._connection_lock:
            connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()

    def _back_off(self, stop: threading.Event, delay: float) -> None:
        """Sleep ``delay`` unless stopped, or until another thread's call reconnected us."""
        deadline = time.monotonic() + delay
        while not stop.wait(min(0.1, max(deadline - time.monotonic(), 0.0))):
            if self.connected or time.monotonic() >= deadline:
                return

    def _delay(self, attempt: int) -> float:
        return reconnect_delay(attempt, base=self._backoff_base, cap=self._backoff_cap)


__all__ = ["BlazeClient", "PushHandler"]
