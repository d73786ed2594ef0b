"""What a bucket is, and the arithmetic that turns a per-window limit into one.

A token bucket of rate ``r`` tokens per second and ``burst`` ``b`` starts a window holding at most
``b`` tokens and earns ``r·W`` more during a window of ``W`` seconds, so it never grants more than

    b + r·W                                   (the *window bound*)

in any closed window of length ``W``. The provider does not count a message at the instant the
token was taken: the batch is built, sent and counted up to ``Δ`` seconds later, and that jitter
can squeeze the grants of ``W + Δ`` seconds into one provider window. Holding the limit ``L`` at
the provider therefore needs

    b + r·(W + Δ) ≤ L,   i.e.   r = (L − b) / (W + Δ)

and a bucket kept busy sends ``r·W`` per window, a fraction ``(L − b)/L · W/(W + Δ)`` of the
limit. For the Mixin quota (L = 100,000/min, W = 60 s, Δ = 0.5 s, b = 2 batches of 100) that is
99.8 % · 99.17 % ≈ 98.98 %.

Why two batches and not one: a bucket whose burst equals the cost of a batch is full at the very
instant the next batch becomes affordable, so every millisecond a worker is late to take it
(sleep overshoot, a Redis round trip, a busy worker) wastes tokens that the clamp at ``b`` throws
away. A second batch of headroom absorbs that lateness at a price of 0.1 % of the quota. Measured
with ``bench/bucket_window.py`` (4 processes, 70 s, production figures): 98.94 % of the quota
sustained with two batches of burst, 97.69 % with one (``--burst-batches 1``), against 98.98 %
and 99.07 % on paper. The burst is further kept
to a tenth of the limit, so that small limits (a per-announcement cap, a test quota) never lose
more than 10 % of their rate to it; such buckets may have a burst below a full batch, see
``max_cost`` in :mod:`worker.ratelimit.buckets` for what that means.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# The quota window of the Mixin API: "100000 messages per minute".
DEFAULT_WINDOW_SECONDS = 60.0
# Mixin accepts at most 100 messages per CREATE_PLAIN_MESSAGES / POST /messages.
DEFAULT_BATCH_SIZE = 100
DEFAULT_BURST_BATCHES = 2
# Upper bound of the time between taking tokens and the provider counting the batch.
DEFAULT_DELTA_SECONDS = 0.5
# The burst never costs a limit more than this fraction of its rate.
MAX_BURST_FRACTION = 0.1

KEY_PREFIX = "blazecast:bucket"


@dataclass(frozen=True)
class BucketSpec:
    """One token bucket in Redis: its key, refill rate, burst, and the window it is judged by.

    ``window_seconds`` does not change how tokens are earned; it is the length of the window the
    limit is stated for, and sets the pace at which a penalised rate recovers (a fixed share of
    the full rate per window) and how long an idle bucket's state is kept.
    """

    key: str
    rate_per_second: float
    burst: int
    window_seconds: float = DEFAULT_WINDOW_SECONDS

    def __post_init__(self) -> None:
        if not self.key:
            raise ValueError("BucketSpec.key must not be empty")
        if not (math.isfinite(self.rate_per_second) and self.rate_per_second > 0):
            raise ValueError(
                f"BucketSpec.rate_per_second must be a positive number, got {self.rate_per_second!r}"
            )
        if self.burst < 1:
            raise ValueError(f"BucketSpec.burst must be at least 1, got {self.burst!r}")
        if not (math.isfinite(self.window_seconds) and self.window_seconds > 0):
            raise ValueError(
                f"BucketSpec.window_seconds must be a positive number, got {self.window_seconds!r}"
            )

    @property
    def window_bound(self) -> float:
        """Most tokens this bucket grants in any window of ``window_seconds`` (``b + r·W``).

        Holds for every cost up to ``burst``; a single larger cost is indivisible and is granted
        whole (see :meth:`worker.ratelimit.buckets.TokenBuckets.try_take`).
        """
        return self.burst + self.rate_per_second * self.window_seconds


def spec_for_limit(
    key: str,
    limit_per_window: int,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    burst_batches: int = DEFAULT_BURST_BATCHES,
    delta_seconds: float = DEFAULT_DELTA_SECONDS,
    window_seconds: float = DEFAULT_WINDOW_SECONDS,
) -> BucketSpec:
    """The bucket that never lets the provider count more than ``limit_per_window`` per window.

    ``burst = min(burst_batches·batch_size, limit/10)`` (at least 1) and
    ``rate = (limit − burst) / (window + delta)``, so ``burst + rate·(window + delta) = limit``.
    """
    if limit_per_window < 2:
        # With burst >= 1 a limit of 1 leaves nothing to refill: such a bucket could never pace.
        raise ValueError(
            f"a limit of {limit_per_window} per window is too small to pace (need >= 2)"
        )
    if batch_size < 1 or burst_batches < 1:
        raise ValueError(
            f"batch_size and burst_batches must be at least 1, got {batch_size} and {burst_batches}"
        )
    if not (math.isfinite(delta_seconds) and delta_seconds >= 0):
        raise ValueError(f"delta_seconds must be a non-negative number, got {delta_seconds!r}")
    burst = max(1, min(burst_batches * batch_size, int(limit_per_window * MAX_BURST_FRACTION)))
    rate = (limit_per_window - burst) / (window_seconds + delta_seconds)
    return BucketSpec(key=key, rate_per_second=rate, burst=burst, window_seconds=window_seconds)


def quota_spec(
    bot_id: str,
    quota_per_minute: int,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    delta_seconds: float = DEFAULT_DELTA_SECONDS,
    burst_batches: int = DEFAULT_BURST_BATCHES,
    window_seconds: float = DEFAULT_WINDOW_SECONDS,
) -> BucketSpec:
    """The bot's quota bucket, shared by every worker and transport that sends as ``bot_id``.

    ``quota_per_minute`` is the quota per window; the window is a minute unless
    ``window_seconds`` says otherwise (tests shrink it to seconds). With the defaults and the
    Mixin quota of 100,000 the burst is 200 and the rate 1649.6 messages/s.
    """
    return spec_for_limit(
        f"{KEY_PREFIX}:quota:{bot_id}",
        quota_per_minute,
        batch_size=batch_size,
        burst_batches=burst_batches,
        delta_seconds=delta_seconds,
        window_seconds=window_seconds,
    )


def cap_spec(
    announcement_id: str,
    messages_per_minute: int,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    delta_seconds: float = DEFAULT_DELTA_SECONDS,
    burst_batches: int = DEFAULT_BURST_BATCHES,
    window_seconds: float = DEFAULT_WINDOW_SECONDS,
) -> BucketSpec:
    """An announcement's optional rate cap, taken together with the quota in one atomic call.

    Same arithmetic as the quota. A cap below ten batches per window gets a burst below one
    batch: split batches to ``max_cost([quota, cap])`` to hold it to the message, or send whole
    batches and accept that one batch is indivisible (see ``TokenBuckets.try_take``).
    """
    return spec_for_limit(
        f"{KEY_PREFIX}:cap:{announcement_id}",
        messages_per_minute,
        batch_size=batch_size,
        burst_batches=burst_batches,
        delta_seconds=delta_seconds,
        window_seconds=window_seconds,
    )
