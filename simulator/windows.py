"""Exact rolling-window counts, for the per-bot quota and for the stats' largest 60 s count.

A window of `seconds` ending at `now` holds the events with time in (now - seconds, now]. The
largest count over all windows is reached by a window that ends at an event, so updating a
maximum on every `add` is exact, not sampled.
"""

from __future__ import annotations

from collections import deque


class RollingCount:
    """The number of messages in the last `seconds`, added in batches."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._events: deque[tuple[float, int]] = deque()
        self._total = 0
        self.peak = 0

    def _expire(self, now: float) -> None:
        horizon = now - self.seconds
        events = self._events
        while events and events[0][0] <= horizon:
            self._total -= events.popleft()[1]

    def total(self, now: float) -> int:
        """Messages counted in the window ending at `now`."""
        self._expire(now)
        return self._total

    def add(self, now: float, count: int) -> int:
        """Count `count` messages at `now` (times must not go backwards); returns the total."""
        self._expire(now)
        self._events.append((now, count))
        self._total += count
        if self._total > self.peak:
            self.peak = self._total
        return self._total
