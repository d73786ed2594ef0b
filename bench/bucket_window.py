"""Hammer one quota bucket from N processes and measure the worst rolling window.

Each process loops like a sender: take a batch's tokens (sleeping the wait the bucket returns, as
``TokenBuckets.take`` does), "send" it for ``--work-ms``, repeat, for ``--seconds``. Every grant
is stamped with Redis' clock (``Attempt.redis_time``), so the largest count in any closed window
of ``--window`` seconds is exact, not blurred by client latency. Prints one summary line and
writes the figures as JSON to ``bench/results/``.

    .venv/bin/python bench/bucket_window.py                  # production: 100,000/min, 70 s
    .venv/bin/python bench/bucket_window.py --quota 2000     # a small quota: burst 22, unit 20
    .venv/bin/python bench/bucket_window.py --window 2 --quota 600 --batch 10 --delta 0.05 \
        --seconds 5                                          # the same shape in seconds

Redis: ``--redis-url``, else ``BLAZECAST_REDIS_URL``, else the embedded Redis under
``BLAZECAST_HOME``. Only the bench's own bucket key is touched, and deleted at the end.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import redis

from worker.ratelimit import BucketSpec, TokenBuckets, quota_spec

RESULTS = Path(__file__).resolve().parent / "results"
Grant = tuple[float, int]


def hammer(
    url: str, spec: BucketSpec, batch: int, start_at: float, seconds: float, work: float
) -> list[Grant]:
    """One sender process: its grants as (Redis time, tokens)."""
    client = redis.Redis.from_url(url)
    buckets = TokenBuckets(client)
    grants: list[Grant] = []
    time.sleep(max(0.0, start_at - time.time()))
    deadline = time.monotonic() + seconds
    try:
        while (left := deadline - time.monotonic()) > 0:
            attempt = buckets.attempt([spec], batch)
            if attempt.taken:
                grants.append((attempt.redis_time, batch))
                time.sleep(work)  # the send itself
            else:
                time.sleep(min(attempt.wait_seconds, left))
    finally:
        client.close()
    return grants


def largest_window(grants: Sequence[Grant], window: float) -> int:
    """Most tokens granted in any closed window [t, t + window]; the worst opens on a grant."""
    ordered = sorted(grants)
    best = running = end = 0
    for start_time, start_cost in ordered:
        while end < len(ordered) and ordered[end][0] <= start_time + window:
            running += ordered[end][1]
            end += 1
        best = max(best, running)
        running -= start_cost
    return best


def _redis_url(explicit: str | None) -> tuple[str, Path | None]:
    """The URL to use, and the embedded engine's home when the bench started it."""
    if explicit:
        return explicit, None
    if os.environ.get("BLAZECAST_REDIS_URL"):
        return os.environ["BLAZECAST_REDIS_URL"], None
    from worker import embedded

    home = Path(os.environ.get("BLAZECAST_HOME", ".blazecast")).resolve()
    return embedded.acquire(home, need_database=False, need_redis=True).redis_url, home


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=70.0, help="hammering time per process")
    parser.add_argument("--quota", type=int, default=100_000, help="messages per window")
    parser.add_argument("--window", type=float, default=60.0, help="window length, seconds")
    parser.add_argument(
        "--batch",
        type=int,
        default=100,
        help="batch size (each take is the send unit, at most this)",
    )
    parser.add_argument(
        "--burst", type=int, default=None, help="override the burst (default: scaled to the quota)"
    )
    parser.add_argument("--delta", type=float, default=0.5, help="jitter allowance, seconds")
    parser.add_argument("--work-ms", type=float, default=20.0, help="time to send one batch")
    parser.add_argument("--redis-url", default=None)
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder for the JSON result")
    return parser.parse_args()


def main() -> None:
    args = _arguments()
    url, embedded_home = _redis_url(args.redis_url)
    spec = quota_spec(
        f"bench-{uuid.uuid4()}",
        args.quota,
        batch_size=args.batch,
        burst=args.burst,
        delta_seconds=args.delta,
        window_seconds=args.window,
    )
    context = multiprocessing.get_context("spawn")
    try:
        with context.Pool(args.processes) as pool:
            start_at = time.time() + 1.0 + 0.3 * args.processes  # once every child has imported
            jobs = [
                # Each take is one request: the spec's send unit, as the sender splits batches.
                pool.apply_async(
                    hammer,
                    (url, spec, spec.send_unit, start_at, args.seconds, args.work_ms / 1000),
                )
                for _ in range(args.processes)
            ]
            grants = [grant for job in jobs for grant in job.get(timeout=args.seconds + 120)]
        client = redis.Redis.from_url(url)
        redis_version = str(client.info("server")["redis_version"])
        client.delete(spec.key)
        client.close()
    finally:
        if embedded_home is not None:
            from worker import embedded

            embedded.release(embedded_home)

    largest = largest_window(grants, args.window)
    times = sorted(at for at, _ in grants)
    # Steady rate: after the first second (the initial refill), up to the last grant.
    warm = times[0] + min(1.0, args.seconds / 4)
    steady_tokens = sum(cost for at, cost in grants if warm <= at < times[-1])
    steady_rate = steady_tokens / (times[-1] - warm)
    result = {
        "processes": args.processes,
        "seconds": args.seconds,
        "window_seconds": args.window,
        "quota_per_window": args.quota,
        "batch": args.batch,
        "burst": spec.burst,
        "send_unit": spec.send_unit,
        "delta_seconds": args.delta,
        "work_ms": args.work_ms,
        "rate_per_second": spec.rate_per_second,
        "window_bound": spec.window_bound,
        "largest_window": largest,
        "within_bound": largest <= spec.window_bound + 1e-6,
        "largest_window_share_of_quota": largest / args.quota,
        "steady_rate_per_second": steady_rate,
        "steady_share_of_bucket_rate": steady_rate / spec.rate_per_second,
        "steady_share_of_quota": steady_rate * args.window / args.quota,
        "tokens_granted": sum(cost for _, cost in grants),
        "grants": len(grants),
        "redis_version": redis_version,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = args.out / f"bucket_window-{stamp}-{os.getpid()}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"bucket_window: {args.processes} processes x {args.seconds:g} s, window {args.window:g} s:"
        f" burst {spec.burst}, unit {spec.send_unit},"
        f" largest window {largest} <= bound {spec.window_bound:.1f} ({result['within_bound']}),"
        f" {100 * largest / args.quota:.2f} % of quota {args.quota};"
        f" steady {steady_rate:.1f}/s = {100 * result['steady_share_of_bucket_rate']:.2f} % of"
        f" bucket rate, {100 * result['steady_share_of_quota']:.2f} % of quota -> {path}"
    )


if __name__ == "__main__":
    main()
