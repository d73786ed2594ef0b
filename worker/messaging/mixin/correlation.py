"""Reply correlation: match each server frame to the request that awaits it, by id, first.

The reader hands every frame to ``ReplyTable.resolve`` before any other dispatch, because a
reply to ``CREATE_MESSAGE`` looks like an incoming message (spec §2.3). A waiter that times out
is removed at once (the Go SDK leaks them, spec §7.4) and its id is remembered for a while, so
the late reply that may still come is recognised and dropped instead of passing for a push.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable

from worker.messaging.errors import ConnectionLost, MessagingError, RequestTimeout
from worker.messaging.mixin.frames import ServerFrame

ErrorFactory = Callable[[], MessagingError]


class Waiter:
    """One request's pending reply."""

    __slots__ = ("_done", "_error", "_frame", "_table", "action", "request_id")

    def __init__(self, table: ReplyTable, request_id: str, action: str) -> None:
        self._table = table
        self._done = threading.Event()
        self._frame: ServerFrame | None = None
        self._error: MessagingError | None = None
        self.request_id = request_id
        self.action = action

    def _settle(self, frame: ServerFrame | None, error: MessagingError | None) -> None:
        self._frame, self._error = frame, error
        self._done.set()

    def wait(self, timeout: float) -> ServerFrame:
        """The reply frame (which may carry an ``error``), or raise.

        Raises ``RequestTimeout`` when no reply came within ``timeout`` seconds (the waiter is
        removed first), or the error the connection failed with (``ConnectionLost``, ...).
        """
        if not self._done.wait(timeout):
            self._table.expire(self.request_id)
            # The reply may have raced in between the wait and the removal; prefer it.
            if not self._done.is_set():
                raise RequestTimeout(
                    f"no reply to {self.action} within {timeout:g} s", request_id=self.request_id
                )
        if self._error is not None:
            raise self._error
        assert self._frame is not None
        return self._frame


class ReplyTable:
    """Waiters keyed by request id, shared by the caller threads and the reader thread."""

    def __init__(self, remember_expired: int = 4096) -> None:
        self._lock = threading.Lock()
        self._waiters: dict[str, Waiter] = {}
        self._expired: OrderedDict[str, None] = OrderedDict()
        self._remember_expired = remember_expired
        self._closed_with: ErrorFactory | None = None

    def register(self, request_id: str, action: str) -> Waiter:
        """Start waiting for ``request_id``; call before sending, so a fast reply is not missed."""
        with self._lock:
            if self._closed_with is not None:
                raise self._closed_with()
            if request_id in self._waiters:
                raise ValueError(f"request id {request_id} is already awaited")
            waiter = Waiter(self, request_id, action)
            self._waiters[request_id] = waiter
            return waiter

    def resolve(self, frame: ServerFrame) -> bool:
        """Hand ``frame`` to its waiter; True if it was a reply (even a late, dropped one)."""
        with self._lock:
            waiter = self._waiters.pop(frame.id, None)
            if waiter is None:
                if frame.id in self._expired:
                    del self._expired[frame.id]
                    return True
                return False
        waiter._settle(frame, None)
        return True

    def expire(self, request_id: str) -> None:
        """Forget a waiter that gave up, remembering its id to recognise a late reply."""
        with self._lock:
            if self._waiters.pop(request_id, None) is None:
                return
            self._expired[request_id] = None
            while len(self._expired) > self._remember_expired:
                self._expired.popitem(last=False)

    def discard(self, request_id: str) -> None:
        """Forget a waiter whose request could not even be sent."""
        with self._lock:
            self._waiters.pop(request_id, None)

    def close(self, make_error: ErrorFactory = lambda: ConnectionLost("connection closed")) -> None:
        """Fail every waiter with a fresh ``make_error()`` and refuse new registrations."""
        with self._lock:
            if self._closed_with is None:
                self._closed_with = make_error
            waiters = list(self._waiters.values())
            self._waiters.clear()
        for waiter in waiters:
            waiter._settle(None, make_error())

    def __len__(self) -> int:
        with self._lock:
            return len(self._waiters)
