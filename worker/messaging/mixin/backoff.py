"""Reconnect delays: capped exponential backoff with jitter (spec §7.3, §7.4).

The official clients reconnect after a fixed 2-10 s or, worse, at once in a bare loop; many
workers doing that after a server restart arrive together. Doubling from 1 s up to a 30 s cap,
with "equal jitter" (a random point in the upper half of the window), spreads them out and
never reaches zero, so a persistent failure cannot become a hot loop.
"""

from __future__ import annotations

import random
from collections.abc import Callable

DEFAULT_BASE_SECONDS = 1.0
DEFAULT_CAP_SECONDS = 30.0


def reconnect_delay(
    attempt: int,
    *,
    base: float = DEFAULT_BASE_SECONDS,
    cap: float = DEFAULT_CAP_SECONDS,
    rng: Callable[[], float] = random.random,
) -> float:
    """Seconds to wait before reconnect number ``attempt`` (0 for the first retry).

    The window is ``min(cap, base * 2**attempt)``; the delay lies in its upper half.
    """
    if attempt < 0:
        raise ValueError("attempt must be >= 0")
    # min() before the power would overflow for absurd attempt counts; 2**64 is plenty.
    window = min(cap, base * 2.0 ** min(attempt, 64))
    return window / 2 + rng() * window / 2
