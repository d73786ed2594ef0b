"""The bucket arithmetic: the quota is held at the provider and used as fully as that allows."""

from __future__ import annotations

import math
import socket
from collections.abc import Callable

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from worker.ratelimit import BucketSpec, TokenBuckets, cap_spec, max_cost, quota_spec

MIXIN_QUOTA = 100_000


def test_mixin_quota_is_held_with_jitter_and_used_to_over_98_5_percent() -> None:
    spec = quota_spec("bot", MIXIN_QUOTA)
    assert spec.burst == 200  # two batches of 100
    assert spec.window_seconds == 60.0
    # Grants of 60.5 s can land in one provider minute: they must still fit in the quota.
    assert spec.burst + spec.rate_per_second * 60.5 == pytest.approx(MIXIN_QUOTA)
    assert spec.window_bound <= MIXIN_QUOTA - spec.rate_per_second * 0.5
    # Kept busy, the bucket sends rate·60 per minute: issue 7 asks for at least 98.5 %.
    sustained = spec.rate_per_second * 60 / MIXIN_QUOTA
    assert 0.985 <= sustained < 0.99


@pytest.mark.parametrize("quota", [2, 3, 10, 99, 600, 1_000, 12_345, 100_000, 1_000_000])
@pytest.mark.parametrize("delta", [0.0, 0.05, 0.5, 3.0])
@pytest.mark.parametrize("window", [1.0, 2.0, 60.0])
def test_every_quota_is_held_at_the_provider(quota: int, delta: float, window: float) -> None:
    spec = quota_spec("bot", quota, delta_seconds=delta, window_seconds=window)
    # Never more than the quota in a provider window stretched by the jitter ...
    assert spec.burst + spec.rate_per_second * (window + delta) <= quota * (1 + 1e-12)
    # ... and a burst small enough not to eat more than a tenth of a real quota.
    assert 1 <= spec.burst <= max(1, quota // 10)
    assert 1 <= spec.send_unit <= spec.burst
    assert spec.rate_per_second > 0


QUOTAS_1K_TO_100K = [*range(1_000, 100_001, 997), 2_000, 10_000, 100_000]


@pytest.mark.parametrize("quota", QUOTAS_1K_TO_100K)
@pytest.mark.parametrize("make", [quota_spec, cap_spec])
def test_the_burst_scales_with_the_quota_so_small_quotas_are_used_too(
    quota: int, make: Callable[..., BucketSpec]
) -> None:
    # Issue 13, item 9: a fixed burst of two batches left 10 % of a 2,000/min quota unused.
    spec = make("bot", quota)
    delta, window = 0.5, 60.0
    # Held: grants of 60.5 s fit in one provider minute (DESIGN 4) ...
    assert spec.burst + spec.rate_per_second * (window + delta) <= quota * (1 + 1e-12)
    # ... and used: the burst (what the bound gives away) is one send unit plus 60 ms of rate,
    # so a busy bucket sends within one batch of the best a burst-free bucket could.
    ideal = quota * window / (window + delta)
    assert ideal - spec.rate_per_second * window <= 100 + spec.rate_per_second * 0.06 + 1
    assert spec.rate_per_second * window >= 0.979 * quota
    # A request is 10 to 100 messages: small quotas are not paced one message at a time.
    assert 10 <= spec.send_unit <= min(100, spec.burst)


def test_the_mixin_quota_keeps_its_measured_shape() -> None:
    spec = quota_spec("bot", MIXIN_QUOTA, batch_size=100)
    assert (spec.burst, spec.send_unit) == (200, 100)  # one batch plus 60 ms of rate
    assert quota_spec("bot", MIXIN_QUOTA, burst=100).burst == 100
    assert quota_spec("bot", 2_000).burst == 22  # was 200: 10 % of the quota given away
    assert max_cost([quota_spec("bot", 2_000)]) == 20


def test_a_small_cap_has_a_burst_below_a_batch_and_max_cost_says_so() -> None:
    quota = quota_spec("bot", MIXIN_QUOTA)
    cap = cap_spec("announcement", 30)
    assert cap.burst == 3
    assert cap.window_bound <= 30
    assert max_cost([quota]) == 100  # a batch: the other 100 tokens are lateness headroom
    assert max_cost([quota, cap]) == 3
    with pytest.raises(ValueError):
        max_cost([])


def test_quota_and_cap_buckets_never_share_a_key() -> None:
    keys = {
        quota_spec("bot-1", 1_000).key,
        quota_spec("bot-2", 1_000).key,
        cap_spec("bot-1", 1_000).key,
    }
    assert len(keys) == 3


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"key": "", "rate_per_second": 1.0, "burst": 1}, "key"),
        ({"key": "k", "rate_per_second": 0.0, "burst": 1}, "rate_per_second"),
        ({"key": "k", "rate_per_second": math.inf, "burst": 1}, "rate_per_second"),
        ({"key": "k", "rate_per_second": 1.0, "burst": 0}, "burst"),
        ({"key": "k", "rate_per_second": 1.0, "burst": 1, "window_seconds": 0.0}, "window"),
    ],
)
def test_a_bucket_spec_that_cannot_pace_is_refused(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(ValueError, match=field):
        BucketSpec(**kwargs)  # type: ignore[arg-type]


def test_limits_too_small_or_jitter_negative_are_refused() -> None:
    with pytest.raises(ValueError, match="too small"):
        quota_spec("bot", 1)
    with pytest.raises(ValueError, match="delta_seconds"):
        quota_spec("bot", 1_000, delta_seconds=-0.1)
    with pytest.raises(ValueError, match="batch_size"):
        cap_spec("announcement", 1_000, batch_size=0)


def _unreachable_buckets() -> TokenBuckets:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = redis.Redis(port=port, socket_connect_timeout=0.2, retry=Retry(NoBackoff(), 0))
    return TokenBuckets(client)


def test_bad_calls_are_refused_before_reaching_redis() -> None:
    # Redis is unreachable here: a ValueError (not a ConnectionError) proves nothing was sent.
    buckets = _unreachable_buckets()
    spec = quota_spec("bot", 1_000)
    with pytest.raises(ValueError, match="cost"):
        buckets.try_take([spec], 0)
    with pytest.raises(ValueError, match="BucketSpec"):
        buckets.try_take([], 1)
    with pytest.raises(ValueError, match="once"):
        buckets.try_take([spec, spec], 1)
    with pytest.raises(redis.ConnectionError):
        buckets.try_take([spec], 1)


def test_penalty_settings_are_checked() -> None:
    client = redis.Redis()
    with pytest.raises(ValueError, match="penalty_floor"):
        TokenBuckets(client, penalty_floor=0.0)
    with pytest.raises(ValueError, match="recovery_per_window"):
        TokenBuckets(client, recovery_per_window=0.0)
    with pytest.raises(ValueError, match="cooldown"):
        TokenBuckets(client, penalty_cooldown_seconds=-1.0)
