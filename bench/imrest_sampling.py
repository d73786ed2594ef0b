"""IM REST read-rate sampling: does the 95 % interval cover the simulator's true rate 19 times in 20?

Each run starts the IM REST simulator on loopback with 50,000 users whose devices deliver and
read with seeded probabilities (a read probability drawn per run, so the true rate varies), sends
one announcement to all of them with the real ``ImRestTransport`` (100 targets per request), then
polls a uniform sample (``sampling.recipients_to_poll``) with the real conversation walk
(``ImRestTransport.conversation_status``) on a ``PollSchedule`` scaled down to seconds, within a
request budget, and computes the read and delivered rates' 95 % intervals
(``estimate.estimate_rates``). The truth is the simulator's ``status_truth``. Repeated with 20
seeds, it prints how often each interval covered the truth, the sample size and the requests
used, and writes ``bench/results/imrest_sampling.json``.

    .venv/bin/python -m bench.imrest_sampling                     # 20 runs x 50,000 users
    .venv/bin/python -m bench.imrest_sampling --runs 3 --users 5000

The schedule's last poll comes after every simulated status change (the delays are bounded), so
the last status seen of each sampled recipient is final and coverage measures the sampling and
the interval, not the timing.
"""

from __future__ import annotations

import argparse
import heapq
import json
import random
import statistics
import time
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from bench.harness.results import RESULTS, machine
from simulator.imrest import ImRestConfig, ImRestSimulator, RecipientBehaviour
from worker.messaging.errors import TransientError
from worker.messaging.imrest import (
    ImRestSettings,
    ImRestTransport,
    Marker,
    PollSchedule,
    after_transient,
    estimate_rates,
    recipients_to_poll,
)
from worker.messaging.imrest.status import DeliveryStatus

#: Scaled-down schedule (seconds after a batch was sent) and recipient delays that end before
#: its last poll: delivered within 1.9 s, read at most 3.8 s after that.
SCHEDULE = PollSchedule((1.0, 3.0, 6.0))
DELIVERY_DELAY, READ_DELAY, SPREAD = 1.0, 2.0, 0.9
DELIVERY_PROBABILITY = 0.9
ANNOUNCEMENT_NAMESPACE = uuid.UUID("6f1c0b52-43c5-4d8a-9d8e-1d1f1a2b3c4d")


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
    true_read: float
    read_low: float
    read_high: float
    read_covered: bool
    true_delivered: float
    delivered_low: float
    delivered_high: float
    delivered_covered: bool
    seconds: float


def run_once(seed: int, users: int, *, budget: int, margin: float) -> RunResult:
    """One announcement to ``users`` simulated users, sampled, polled and estimated."""
    started = time.monotonic()
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
    announcement = str(uuid.uuid5(ANNOUNCEMENT_NAMESPACE, str(seed)))
    with ImRestSimulator(config) as sim:
        settings = ImRestSettings(
            base_url=sim.base_url,
            app_id=sim.app_id,
            access_token=sim.admin_token,
            from_user_id=sim.sender_id,
            timeout=5.0,
            poll_delays=SCHEDULE.delays,
        )
        transport = ImRestTransport(settings)
        try:
            since_ms = time.time_ns() // 1_000_000 - 5_000  # clock slack, as the pipeline allows
            sent_at = send_all(transport, settings, announcement, sim.user_ids)
            # The budget bounds the polls; each sampled recipient costs at most one per delay.
            to_poll = recipients_to_poll(
                sim.user_ids,
                announcement,
                sample_above=settings.sample_above,
                margin=margin,
                budget=budget // SCHEDULE.polls_at_most,
            )
            seen, requests = poll_on_schedule(transport, announcement, to_poll, sent_at, since_ms)
        finally:
            transport.close()
        # Unsampled recipients of the last batches may still be changing: the truth is final
        # once the longest delivery and read delays have passed since the last send.
        settled_at = max(sent_at.values()) + (DELIVERY_DELAY + READ_DELAY) * (1 + SPREAD)
        time.sleep(max(0.0, settled_at - time.monotonic()) + 0.1)
        stats = sim.stats()
    truth = stats["status_truth"]
    if truth["now"] != truth["eventual"]:
        raise RuntimeError("the simulated statuses had not settled at the last poll")
    rates = estimate_rates(seen.values(), users)
    true_read = truth["eventual"]["READ"] / truth["messages"]
    true_delivered = (truth["eventual"]["READ"] + truth["eventual"]["DELIVERED"]) / truth[
        "messages"
    ]
    assert stats["requests"].get("conversation", 0) == requests, "the client miscounted"
    return RunResult(
        seed=seed,
        users=users,
        read_probability=read_probability,
        sample=len(to_poll),
        polled=len(seen),
        poll_requests=requests,
        send_requests=stats["requests"].get("send", 0),
        largest_requests_in_window=stats["requests_window"]["largest"],
        true_read=round(true_read, 5),
        read_low=round(rates.read.low, 5),
        read_high=round(rates.read.high, 5),
        read_covered=rates.read.covers(true_read),
        true_delivered=round(true_delivered, 5),
        delivered_low=round(rates.delivered.low, 5),
        delivered_high=round(rates.delivered.high, 5),
        delivered_covered=rates.delivered.covers(true_delivered),
        seconds=round(time.monotonic() - started, 1),
    )


def send_all(
    transport: ImRestTransport, settings: ImRestSettings, announcement: str, users: list[int]
) -> dict[int, float]:
    """Every user once, 100 per request, retried as the provider's verdict says; sent times."""
    sent_at: dict[int, float] = {}
    for index in range(0, len(users), settings.batch_size):
        batch = users[index : index + settings.batch_size]
        first, failures = time.monotonic(), 0
        while True:
            try:
                transport.send_batch(announcement, batch, 0, "Maintenance tonight 22:00-23:00 UTC")
                break
            except TransientError as error:
                failures += 1
                verdict = after_transient(
                    error,
                    failures=failures,
                    first_attempt_at=first,
                    now=time.monotonic(),
                    settings=settings,
                )
                if verdict != "retry":
                    raise
        done = time.monotonic()
        sent_at.update((user, done) for user in batch)
    return sent_at


def poll_on_schedule(
    transport: ImRestTransport,
    announcement: str,
    recipients: list[int],
    sent_at: dict[int, float],
    since_ms: int,
    schedule: PollSchedule = SCHEDULE,
) -> tuple[dict[int, DeliveryStatus], int]:
    """Poll each recipient on the schedule until READ or its last poll; last status, requests."""
    marker = Marker(announcement)
    due = [(schedule.first(sent_at[user]), user) for user in recipients]
    heapq.heapify(due)
    seen: dict[int, DeliveryStatus] = {}
    requests = 0
    while due:
        at, user = heapq.heappop(due)
        time.sleep(max(0.0, at - time.monotonic()))
        rows = transport.conversation_status(user, marker=marker, since_ms=since_ms)
        requests += 1  # one page: each conversation holds one message
        status = rows[0].status if rows else None
        if status is not None:
            seen[user] = status
        following = schedule.after(sent_at[user], time.monotonic(), status)
        if following is not None:
            heapq.heappush(due, (following, user))
    return seen, requests


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1, help="first seed; run k uses seed + k")
    parser.add_argument(
        "--budget", type=int, default=3_000, help="poll requests allowed per announcement"
    )
    parser.add_argument("--margin", type=float, default=0.03, help="target half-width at p=0.5")
    parser.add_argument(
        "--max-seconds", type=float, default=300.0, help="stop starting runs after this long"
    )
    args = parser.parse_args(argv)
    command = "python -m bench.imrest_sampling " + " ".join(argv or [])
    before = machine()
    started = time.monotonic()
    results: list[RunResult] = []
    for run in range(args.runs):
        if time.monotonic() - started > args.max_seconds:
            print(f"stopping after {run} runs: --max-seconds {args.max_seconds:g} reached")
            break
        result = run_once(args.seed + run, args.users, budget=args.budget, margin=args.margin)
        results.append(result)
        print(
            f"seed {result.seed:3d}: true read {result.true_read:.4f} in "
            f"[{result.read_low:.4f}, {result.read_high:.4f}] {_mark(result.read_covered)}; "
            f"delivered {result.true_delivered:.4f} in [{result.delivered_low:.4f}, "
            f"{result.delivered_high:.4f}] {_mark(result.delivered_covered)}; sample "
            f"{result.sample}, {result.poll_requests} poll + {result.send_requests} send "
            f"requests, {result.seconds:.1f} s",
            flush=True,
        )
    if not results:
        return
    figures = _summarise(results, args)
    summary = (
        f"read interval covered the truth in {figures['read_covered']}/{len(results)} runs, "
        f"delivered in {figures['delivered_covered']}/{len(results)}; {args.users:,} users, "
        f"sample {figures['sample_median']:,}, poll requests per run median "
        f"{figures['poll_requests_median']:,} (max {figures['poll_requests_max']:,}, budget "
        f"{args.budget:,}), mean read half-width {figures['read_half_width_mean']:.4f}"
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
        "budget": args.budget,
        "margin": args.margin,
        "schedule_seconds": list(SCHEDULE.delays),
        "read_covered": sum(result.read_covered for result in results),
        "delivered_covered": sum(result.delivered_covered for result in results),
        "sample_median": int(statistics.median(result.sample for result in results)),
        "poll_requests_median": int(statistics.median(polls)),
        "poll_requests_max": max(polls),
        "read_half_width_mean": statistics.fmean(
            (result.read_high - result.read_low) / 2 for result in results
        ),
    }


def _mark(covered: bool) -> str:
    return "covered" if covered else "MISSED"


if __name__ == "__main__":
    main()
