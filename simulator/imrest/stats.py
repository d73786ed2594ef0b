"""What the IM REST simulator saw, for `GET /_sim/stats` and `GET /_sim/requests` (§6 item 17).

Counters count events since start or the last reset; messages, dedup memory and conversations
are behaviour, not counters, and survive a reset. The request log keeps the newest requests
(method, path, the code and HTTP status answered, the fault injected); never a token.

`requests_window` is exact: the largest number of requests that arrived in any rolling window
of `budget_window_seconds`, over all operations and per operation, refused ones included (a
request the client sent spent its budget whatever the answer), so a test can prove that a
client kept to its request budget and that polling stayed within its share.
"""

from __future__ import annotations

import time
from collections import Counter, deque
from typing import Any

from simulator.windows import RollingCount


class Stats:
    """Plain counters, touched on the simulator's event loop only."""

    def __init__(self, log_size: int, window_seconds: float = 60.0) -> None:
        self._log_size = log_size
        self.window_seconds = window_seconds
        self.reset()

    def reset(self) -> None:
        self.requests: Counter[str] = Counter()
        self.codes: Counter[int] = Counter()
        self.http_statuses: Counter[int] = Counter()
        self.executed_sends: Counter[str] = Counter()
        self.targets_sent = 0
        self.largest_targets = 0
        self.largest_body_bytes = 0
        self.messages_created = 0
        self.recalls = 0
        self.acks = 0
        self.rate_limited = 0
        self.log: deque[dict[str, Any]] = deque(maxlen=self._log_size)
        self._window = RollingCount(self.window_seconds)
        self._windows: dict[str, RollingCount] = {}

    def request(self, operation: str, body_bytes: int, now: float) -> None:
        """A request to `operation` arrived at monotonic time `now`."""
        self.requests[operation] += 1
        self.largest_body_bytes = max(self.largest_body_bytes, body_bytes)
        self._window.add(now, 1)
        window = self._windows.get(operation)
        if window is None:
            window = self._windows[operation] = RollingCount(self.window_seconds)
        window.add(now, 1)

    def answered(
        self,
        method: str,
        path: str,
        *,
        code: int | None,
        http_status: int,
        fault: str = "none",
    ) -> None:
        """One request got its answer (or, for a dropped reply, none: `http_status` 0)."""
        if code is not None:
            self.codes[code] += 1
        self.http_statuses[http_status] += 1
        self.log.append(
            {
                "at": time.time(),
                "method": method,
                "path": path,
                "code": code,
                "http_status": http_status,
                "fault": fault,
            }
        )

    def executed(self, endpoint: str, targets: int, created: int) -> None:
        """A send or notify ran and created `created` messages."""
        self.executed_sends[endpoint] += 1
        self.targets_sent += targets
        self.largest_targets = max(self.largest_targets, targets)
        self.messages_created += created

    def snapshot(self) -> dict[str, Any]:
        return {
            "requests": dict(self.requests),
            "codes": {str(code): count for code, count in sorted(self.codes.items())},
            "http_statuses": {
                str(status): count for status, count in sorted(self.http_statuses.items())
            },
            "executed_sends": dict(self.executed_sends),
            "targets_sent": self.targets_sent,
            "largest_targets": self.largest_targets,
            "largest_body_bytes": self.largest_body_bytes,
            "messages_created": self.messages_created,
            "recalls": self.recalls,
            "acks": self.acks,
            "rate_limited_429": self.rate_limited,
            "requests_window": {
                "seconds": self.window_seconds,
                "largest": self._window.peak,
                "largest_by_operation": {
                    name: window.peak for name, window in sorted(self._windows.items())
                },
            },
        }
