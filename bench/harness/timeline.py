"""Rates and windows from what the simulator accepted: per-second counts, the steady rate, and the
exact largest count in any rolling window.

The simulator stamps every accepted message (``GET /_sim/accepted``: Unix nanoseconds) and counts
per second (``accepted_per_second``); the benches judge blazecast against those, never against
blazecast's own records.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

NS = 1_000_000_000


def per_second(times_ns: Iterable[int]) -> list[list[int]]:
    """``[[unix second, messages], …]`` in time order."""
    counts = Counter(t // NS for t in times_ns)
    return [[second, n] for second, n in sorted(counts.items())]


def steady_rate(per_second: list[list[int]]) -> tuple[float, int]:
    """Messages per second over the whole seconds strictly between the first and the last
    second with traffic (those two are partial), and how many seconds that is."""
    seconds = sorted(per_second)
    if len(seconds) < 3:
        return 0.0, 0
    first, last = seconds[0][0], seconds[-1][0]
    inner = [n for s, n in seconds if first < s < last]
    span = last - first - 1
    return sum(inner) / span, span


def rolling_sums(per_second: list[list[int]], window: int = 60) -> list[tuple[int, int]]:
    """Messages in the ``window`` seconds ending at each second (1 s resolution, for plots)."""
    counts = dict((s, n) for s, n in per_second)
    if not counts:
        return []
    first, last = min(counts), max(counts)
    sums, running = [], 0
    for second in range(first, last + 1):
        running += counts.get(second, 0) - counts.get(second - window, 0)
        sums.append((second, running))
    return sums


def rolling_peak(times_ns: list[int], window_seconds: float = 60.0) -> int:
    """The largest number of messages in any window ``(t − window, t]``: exact, since the largest
    count is reached by a window ending at a message (as the simulator counts its quota)."""
    ordered = sorted(times_ns)
    window = int(window_seconds * NS)
    peak, start = 0, 0
    for end, at in enumerate(ordered):
        while ordered[start] <= at - window:
            start += 1
        peak = max(peak, end - start + 1)
    return peak
