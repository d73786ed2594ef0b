"""Redis token buckets that hold a bot's quota in every rolling window (DESIGN invariant 4).

Every batch takes as many tokens as it has messages before it is sent, from the bot's quota
bucket and, when the announcement has one, its rate cap, both in one atomic step::

    buckets = TokenBuckets(redis_client)
    quota = quota_spec(bot_id, settings.quota_per_minute)
    specs = [quota, cap_spec(announcement_id, 3000)]
    if buckets.take(specs, len(batch), timeout=5.0):
        try:
            send(batch)
        except RateLimited:
            buckets.penalize(quota)  # every worker slows down
    else:
        hand_back(batch, after=buckets.wait_seconds(specs, len(batch)))

- :mod:`.specs`: ``BucketSpec`` and the arithmetic that makes ``burst + rate·(60 + Δ) ≤ quota``.
- :mod:`.buckets`: ``TokenBuckets`` (take, wait_seconds, penalize, level), failing closed on
  Redis errors, and ``max_cost``.
- :mod:`.scripts`: the Lua that refills from Redis ``TIME`` and why a lost bucket restarts empty.
"""

from worker.ratelimit.buckets import Attempt, TokenBuckets, max_cost
from worker.ratelimit.specs import (
    BucketSpec,
    cap_spec,
    poll_share_spec,
    quota_spec,
    spec_for_limit,
)

__all__ = [
    "Attempt",
    "BucketSpec",
    "TokenBuckets",
    "cap_spec",
    "max_cost",
    "poll_share_spec",
    "quota_spec",
    "spec_for_limit",
]
