"""IM REST read-rate sampling: does the 95 % interval cover the simulator's true rate 19 times in 20?

Each run starts the IM REST simulator on loopback with 50,000 users whose devices deliver and
read with seeded probabilities (a read probability drawn per run, so the true rate varies), and
goes through blazecast's own path, in this process, against the bench's embedded Postgres and
Redis: an IM REST bot (``worker.bots.add_bot``), the announcement planned and sent by the
pipeline (``pipeline.run_until_idle``, 100 targets per request), the poll rows picked in SQL
(``worker.broadcast.polls``: a uniform sample sized for ±``--margin``), the polls run by the same
functions as the ``poll_tick`` and ``poll_statuses`` tasks on a schedule scaled down to seconds
(each page paid from the bot's quota and poll-share buckets), and the estimates that ``announce
show`` prints (``worker.progress`` / ``worker.estimates``). The truth is the simulator's
``status_truth``. Repeated with 20 seeds, it prints how often each interval covered the truth,
the sample size and the requests used, and writes ``bench/results/imrest_sampling.json``.

    .venv/bin/python -m bench.imrest_sampling                     # 20 runs x 50,000 users
    .venv/bin/python -m bench.imrest_sampling --runs 3 --users 5000

The schedule's last poll comes after every simulated status change (the delays are bounded), so
the last status seen of each sampled recipient is final and coverage measures the sampling and
the interval, not the timing.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import time
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from bench.harness.engines import BenchEngines
from bench.harness.imrest_polls import add_imrest_audience, poll_until_done
from bench.harness.results import RESULTS, machine
from models import Bot
from simulator.imrest import ImRestConfig, ImRestSimulator, RecipientBehaviour
from worker import progress
from worker.bots import add_bot, provider_of
from worker.broadcast import pipeline, service
from worker.broadcast.pipeline import InlineBroker
from worker.config import load_settings
from worker.runtime import Runtime

#: Scaled-down schedule (seconds after a batch was sent) and recipient delays that end before
#: its last poll: delivered within 1.9 s, read at most 3.8 s after that.
SCHEDULE = (1.0, 3.0, 6.0)
DELIVERY_DELAY, READ_DELAY, SPREAD = 1.0, 2.0, 0.9
DELIVERY_PROBABILITY = 0.9
#: Large enough that sending is not what the bench waits for; polling gets its 20 %.
QUOTA_PER_MINUTE = 120_000
TOKEN_VARIABLE = "BLAZECAST_BENCH_IMREST_TOKEN"


@dataclass(frozen=True)
class RunResult:
    seed: int
    users: int
    read_probability: float
    sample: int
    polled: int
    poll_requests: int
    send_requests: int
    largest_requests_in_window: int
    largest_polls_in_window: int
    true_read: float
    read_low: float
    read_high: float
    read_covered: bool
    true_delivered: float
    delivered_low: float
    delivered_high: float
    delivered_covered: bool
    seconds: float


def run_once(engines: BenchEngines, seed: int, users: int, *, margin: float) -> RunResult:
    """One announcement to ``users`` simulated users, through the pipeline, sampled, polled by
    the real poller and estimated as ``announce show`` does."""
    started = time.monotonic()
    engines.reset()
    read_probability = round(random.Random(seed).uniform(0.05, 0.6), 3)
    behaviour = RecipientBehaviour(
        delivery_delay=DELIVERY_DELAY,
        read_delay=READ_DELAY,
        delivery_probability=DELIVERY_PROBABILITY,
        read_probability=read_probability,
        spread=SPREAD,
    )
    config = ImRestConfig(
        users=users, seed=seed, behaviour=behaviour, groups=0, foreign_groups=0, request_log_size=10
    )
    settings = load_settings(
        database_url=engines.database_url, redis_url=engines.redis_url, home=engines.home
    )
    runtime = Runtime(settings)
    try:
        with ImRestSimulator(config) as sim:
            os.environ[TOKEN_VARIABLE] = sim.admin_token  # the bot reads it by reference
            announcement_id = _announce(runtime, sim, margin)
            pipeline.run_until_idle(
                runtime.db, InlineBroker(), runtime.pipeline_config, runtime.sender
            )
            last_sent = time.monotonic()
            poll_until_done(runtime, announcement_id, timeout=SCHEDULE[-1] * 3 + 120)
            # Unsampled recipients of the last batches may still be changing: the truth is
            # final once the longest delivery and read delays have passed since the last send.
            settled_at = last_sent + (DELIVERY_DELAY + READ_DELAY) * (1 + SPREAD)
            time.sleep(max(0.0, settled_at - time.monotonic()) + 0.1)
            stats = sim.stats()
        with runtime.db.session() as session:
            info = progress.get_info(session, announcement_id)
    finally:
        runtime.close()
    truth = stats["status_truth"]
    if truth["now"] != truth["eventual"]:
        raise RuntimeError("the simulated statuses had not settled at the last poll")
    estimates = info.estimates
    if estimates is None:
        raise RuntimeError(f"{users:,} users were polled in full: no estimate to check")
    true_read = truth["eventual"]["READ"] / truth["messages"]
    true_delivered = (truth["eventual"]["READ"] + truth["eventual"]["DELIVERED"]) / truth[
        "messages"
    ]
    return RunResult(
        seed=seed,
        users=users,
        read_probability=read_probability,
        sample=estimates.sampled,
        polled=estimates.polled,
        poll_requests=stats["requests"].get("conversation", 0),
        send_requests=stats["requests"].get("send", 0),
        largest_requests_in_window=stats["requests_window"]["largest"],
        largest_polls_in_window=stats["requests_window"]["largest_by_operation"].get(
            "conversation", 0
        ),
        true_read=round(true_read, 5),
        read_low=round(estimates.read.low, 5),
        read_high=round(estimates.read.high, 5),
        read_covered=estimates.read.covers(true_read),
        true_delivered=round(true_delivered, 5),
        delivered_low=round(estimates.delivered.low, 5),
        delivered_high=round(estimates.delivered.high, 5),
        delivered_covered=estimates.delivered.covers(true_delivered),
        seconds=round(time.monotonic() - started, 1),
    )


def _announce(runtime: Runtime, sim: ImRestSimulator, margin: float) -> uuid.UUID:
    """The IM REST bot, its audience (ids as decimal text) and the announcement, scheduled."""
    with runtime.db.session() as session:
        bot = add_bot(
            session,
            runtime.settings,
            name="imrest",
            credentials=f"env:{TOKEN_VARIABLE}",
            provider="imrest",
            quota_per_minute=QUOTA_PER_MINUTE,
            options={
                "base_url": sim.base_url,
                "app_id": sim.app_id,
                "from_user_id": sim.sender_id,
                "poll_delays": list(SCHEDULE),
                "sample_margin": margin,
            },
        )
        bot_id = bot.id
    add_imrest_audience(runtime, bot_id, sim.user_ids)
    with runtime.db.session() as session:
        announcement = service.create_announcement(
            session,
            bot_id=bot_id,
            provider=provider_of(session.get_one(Bot, bot_id), runtime.settings),
            category="PLAIN_TEXT",
            content="Maintenance tonight 22:00-23:00 UTC",
        )
        session.flush()
        return announcement.id


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1, help="first seed; run k uses seed + k")
    parser.add_argument("--margin", type=float, default=0.03, help="target half-width at p=0.5")
    parser.add_argument(
        "--max-seconds", type=float, default=1200.0, help="stop starting runs after this long"
    )
    args = parser.parse_args(argv)
    command = "python -m bench.imrest_sampling " + " ".join(argv or [])
    before = machine()
    started = time.monotonic()
    results: list[RunResult] = []
    engines = BenchEngines.start("imrest_sampling")
    try:
        for run in range(args.runs):
            if time.monotonic() - started > args.max_seconds:
                print(f"stopping after {run} runs: --max-seconds {args.max_seconds:g} reached")
                break
            result = run_once(engines, args.seed + run, args.users, margin=args.margin)
            results.append(result)
            _print(result)
    finally:
        engines.stop()
    if not results:
        return
    figures = _summarise(results, args)
    summary = (
        f"read interval covered the truth in {figures['read_covered']}/{len(results)} runs, "
        f"delivered in {figures['delivered_covered']}/{len(results)}; {args.users:,} users, "
        f"sample {figures['sample_median']:,}, poll requests per run median "
        f"{figures['poll_requests_median']:,} (max {figures['poll_requests_max']:,}; largest "
        f"{figures['largest_polls_in_window']:,} polls in a 60 s window, share "
        f"{figures['poll_share_limit']:,}), mean read half-width "
        f"{figures['read_half_width_mean']:.4f}"
    )
    document = {
        "bench": "imrest_sampling",
        "command": command.strip(),
        "summary": summary,
        "figures": figures,
        "runs": [asdict(result) for result in results],
        "machine_before": before,
        "machine_after": machine(),
        "wall_seconds": round(time.monotonic() - started, 1),
        "measured_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / "imrest_sampling.json"
    path.write_text(json.dumps(document, indent=2) + "\n")
    print(f"wrote bench/results/{path.name}")
    print(summary)


def _summarise(results: list[RunResult], args: argparse.Namespace) -> dict[str, Any]:
    polls = [result.poll_requests for result in results]
    return {
        "runs": len(results),
        "users": args.users,
        "quota_per_minute": QUOTA_PER_MINUTE,
        "poll_share_limit": int(QUOTA_PER_MINUTE * 0.2),
        "largest_polls_in_window": max(result.largest_polls_in_window for result in results),
        "margin": args.margin,
        "schedule_seconds": list(SCHEDULE),
        "read_covered": sum(result.read_covered for result in results),
        "delivered_covered": sum(result.delivered_covered for result in results),
        "sample_median": int(statistics.median(result.sample for result in results)),
        "poll_requests_median": int(statistics.median(polls)),
        "poll_requests_max": max(polls),
        "read_half_width_mean": statistics.fmean(
            (result.read_high - result.read_low) / 2 for result in results
        ),
    }


def _print(result: RunResult) -> None:
    print(
        f"seed {result.seed:3d}: true read {result.true_read:.4f} in "
        f"[{result.read_low:.4f}, {result.read_high:.4f}] {_mark(result.read_covered)}; "
        f"delivered {result.true_delivered:.4f} in [{result.delivered_low:.4f}, "
        f"{result.delivered_high:.4f}] {_mark(result.delivered_covered)}; sample "
        f"{result.sample}, {result.poll_requests} poll + {result.send_requests} send "
        f"requests, {result.seconds:.1f} s",
        flush=True,
    )


def _mark(covered: bool) -> str:
    return "covered" if covered else "MISSED"


if __name__ == "__main__":
    main()
