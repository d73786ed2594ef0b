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
limit: the burst is paid for at every limit, so it must scale with the limit.

The burst is a *send unit* ``u`` plus *lateness headroom* ``h``:

- ``u`` is the most one request takes from the bucket: a batch (100) when the limit is large,
  a hundredth of the limit below 10,000 per window (never below a tenth of a batch, so that a
  small limit costs at most ten requests per batch). The sender splits batches to ``u``
  (``max_cost``).
- ``h = r·λ`` tokens, ``λ`` = 60 ms: a bucket whose burst equals the unit is full at the very
  instant the next unit becomes affordable, so every millisecond a worker is late (sleep
  overshoot, a Redis round trip, a busy worker) would waste tokens that the clamp at ``b`` throws
  away. ``h`` absorbs that lateness.

For the Mixin quota (L = 100,000/min, W = 60 s, Δ = 0.5 s) that is ``b = 100 + 100 = 200`` and
99.8 % · 99.17 % ≈ 98.98 % of the quota; at 1,000 to 10,000 a minute ``b`` is about 1.1 % of
the limit and the bucket sustains ~98.1 % of it on paper, where a fixed burst of two batches left 89 %
at 2,000 (issue 13, item 9). Measurements: ``docs/decisions/2026-12-02-burst-scales-with-quota.md``.
The burst never exceeds a tenth of the limit, so a tiny limit (a cap of a few messages a
minute) can still pace.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# The quota window of the Mixin API: "100000 messages per minute".
DEFAULT_WINDOW_SECONDS = 60.0
# Mixin accepts at most 100 messages per CREATE_PLAIN_MESSAGES / POST /messages.
DEFAULT_BATCH_SIZE = 100
# Upper bound of the time between taking tokens and the provider counting the batch.
DEFAULT_DELTA_SECONDS = 0.5
# How late a sender may be to take tokens that became affordable without wasting any.
DEFAULT_LATENESS_SECONDS = 0.06
# One request takes at most this share of the limit (until it reaches a whole batch) ...
SEND_UNIT_SHARE = 0.01
# ... and at least this share of a batch, so that a small limit costs at most 10 requests a batch.
MIN_UNIT_SHARE_OF_BATCH = 0.1
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
    # The most one request should take (the sender splits batches to it); 0 means the burst.
    unit: int = 0

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
        if not 0 <= self.unit <= self.burst:
            raise ValueError(f"BucketSpec.unit must be between 0 and the burst, got {self.unit!r}")

    @property
    def send_unit(self) -> int:
        """The most tokens one request should take: the unit, or the whole burst if unset."""
        return self.unit or self.burst

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
    lateness_seconds: float = DEFAULT_LATENESS_SECONDS,
    delta_seconds: float = DEFAULT_DELTA_SECONDS,
    window_seconds: float = DEFAULT_WINDOW_SECONDS,
    burst: int | None = None,
) -> BucketSpec:
    """The bucket that never lets the provider count more than ``limit_per_window`` per window.

    ``unit = clamp(limit/100, batch/10, batch)``, ``burst = unit + ⌈λ·limit/(window + Δ)⌉``, both
    at most ``limit/10`` (at least 1), and ``rate = (limit − burst) / (window + Δ)``, so that
    ``burst + rate·(window + Δ) = limit``. An explicit ``burst`` overrides the first two (benches
    and tests compare bursts); its unit is then the burst itself.
    """
    if limit_per_window < 2:
        # With burst >= 1 a limit of 1 leaves nothing to refill: such a bucket could never pace.
        raise ValueError(
            f"a limit of {limit_per_window} per window is too small to pace (need >= 2)"
        )
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    if not (math.isfinite(delta_seconds) and delta_seconds >= 0):
        raise ValueError(f"delta_seconds must be a non-negative number, got {delta_seconds!r}")
    if not (math.isfinite(lateness_seconds) and lateness_seconds >= 0):
        raise ValueError(
            f"lateness_seconds must be a non-negative number, got {lateness_seconds!r}"
        )
    ceiling = max(1, int(limit_per_window * MAX_BURST_FRACTION))
    if burst is not None:
        if not 1 <= burst < limit_per_window:
            raise ValueError(f"burst must be between 1 and the limit, got {burst}")
        unit = burst
    else:
        unit = int(limit_per_window * SEND_UNIT_SHARE)
        unit = min(batch_size, max(unit, math.ceil(batch_size * MIN_UNIT_SHARE_OF_BATCH)))
        headroom = math.ceil(lateness_seconds * limit_per_window / (window_seconds + delta_seconds))
        burst = min(unit + headroom, ceiling)
        unit = min(unit, burst)
    rate = (limit_per_window - burst) / (window_seconds + delta_seconds)
    return BucketSpec(
        key=key, rate_per_second=rate, burst=burst, window_seconds=window_seconds, unit=unit
    )


def quota_spec(
    bot_id: str,
    quota_per_minute: int,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    delta_seconds: float = DEFAULT_DELTA_SECONDS,
    window_seconds: float = DEFAULT_WINDOW_SECONDS,
    burst: int | None = None,
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
        delta_seconds=delta_seconds,
        window_seconds=window_seconds,
        burst=burst,
    )


def cap_spec(
    announcement_id: str,
    messages_per_minute: int,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    delta_seconds: float = DEFAULT_DELTA_SECONDS,
    window_seconds: float = DEFAULT_WINDOW_SECONDS,
    burst: int | None = None,
) -> BucketSpec:
    """An announcement's optional rate cap, taken together with the quota in one atomic call.

    Same arithmetic as the quota. A cap below 10,000 per window gets a send unit below one
    batch: split batches to ``max_cost([quota, cap])`` to hold it to the message, or send whole
    batches and accept that one batch is indivisible (see ``TokenBuckets.try_take``).
    """
    return spec_for_limit(
        f"{KEY_PREFIX}:cap:{announcement_id}",
        messages_per_minute,
        batch_size=batch_size,
        delta_seconds=delta_seconds,
        window_seconds=window_seconds,
        burst=burst,
    )


def poll_share_spec(
    bot_id: str,
    quota_per_minute: int,
    share: float,
    *,
    delta_seconds: float = DEFAULT_DELTA_SECONDS,
    window_seconds: float = DEFAULT_WINDOW_SECONDS,
) -> BucketSpec:
    """The bucket of the share of a bot's request budget that status polling may use.

    A poll takes one token from it *and* one from the bot's quota bucket, in one atomic step:
    polling never exceeds ``share`` of the quota in any window, and sending, which takes from
    the quota alone, always keeps the rest. Each poll is one request, so the send unit is 1.
    """
    limit = max(2, math.floor(quota_per_minute * share))
    return spec_for_limit(
        f"{KEY_PREFIX}:polls:{bot_id}",
        limit,
        batch_size=1,
        delta_seconds=delta_seconds,
        window_seconds=window_seconds,
    )
