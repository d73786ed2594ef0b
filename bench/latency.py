"""Latency: from ``scheduled_at`` to the first accepted batch, and how fast a pause takes effect.

The whole stack at the real quota. Two measurements in one run:

1. Start latency: announcements to 100 recipients each (one batch), scheduled a few seconds
   ahead one after the other, at phases spread evenly over the beat's one-second tick; for each, ``first_sent_at − scheduled_at`` (``first_sent_at`` is
   stamped in the transaction that records the first accepted batch, so it is on or after the
   moment the provider accepted it). Reported: p50, p95, max.
2. Pause latency: a broadcast to everyone is paused several times while it sends at the quota
   and resumed each time; for each pause, the simulator's accepted count is polled every 50 ms
   and the last moment it grew after the pause committed is the moment the pause took effect.
   The broadcast then finishes; resume must never re-send (no duplicate message id).

    .venv/bin/python -m bench.latency                    # 30 start samples, 5 pauses, ~2 minutes
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.harness.population import make_audience
from bench.harness.results import Run, percentile
from bench.harness.stack import BenchStack, running_stack
from models import AnnouncementStatus
from worker.broadcast import service
from worker.broadcast.service import Audience
from worker.queues import TICK_SECONDS

START_TARGET_P95 = 2.0
PAUSE_TARGET = 1.0


def start_latencies(
    stack: BenchStack, user_ids: list[str], samples: int, spacing: float
) -> list[float]:
    """Schedule one-batch announcements ``spacing`` seconds apart; their start latencies.

    Due announcements are started by the beat tick, once a second: how long one waits depends on
    where its ``scheduled_at`` falls between two ticks. The samples are spread evenly over that
    second (sample ``i`` is ``i / samples`` of a tick later), so the figures cover every phase
    instead of whichever one the spacing happened to hit.
    """
    first_at = datetime.now(UTC) + timedelta(seconds=3)
    ids = []
    for index in range(samples):
        audience = Audience.users(user_ids[index * 100 : (index + 1) * 100])
        phase = TICK_SECONDS * index / samples
        ids.append(
            stack.announce(
                f"Latency sample {index}",
                audience=audience,
                at=first_at + timedelta(seconds=index * spacing + phase),
            )
        )
    stack.wait_for(
        lambda: all(stack.announcement(i).status is AnnouncementStatus.COMPLETED for i in ids),
        timeout=samples * spacing + 60,
        what="every latency sample to complete",
        poll=1.0,
    )
    latencies = []
    for announcement_id in ids:
        done = stack.announcement(announcement_id)
        assert done.first_sent_at is not None and done.scheduled_at is not None
        latencies.append((done.first_sent_at - done.scheduled_at).total_seconds())
    return latencies


def pause_latency(stack: BenchStack, announcement_id: Any, watch: float = 3.0) -> float:
    """Pause now; seconds from the pause's commit to the last message the simulator accepted."""
    with stack.database.session() as session:
        service.pause(session, announcement_id)
    paused_at = time.monotonic()
    last_count, last_change = stack.sim.stats()["messages_accepted"], paused_at
    while time.monotonic() - paused_at < watch:
        count = stack.sim.stats()["messages_accepted"]
        if count != last_count:
            last_count, last_change = count, time.monotonic()
        time.sleep(0.05)
    return last_change - paused_at


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipients", type=int, default=30_000)
    parser.add_argument("--samples", type=int, default=30)
    parser.add_argument("--spacing", type=float, default=2.0)
    parser.add_argument("--pauses", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()

    run = Run("latency")
    audience = make_audience(args.recipients, seed=5)
    with running_stack("latency", audience, concurrency=args.concurrency, seed=5) as stack:
        starts = start_latencies(stack, audience.user_ids, args.samples, args.spacing)
        before = stack.sim.stats()["visible_messages"]
        broadcast = stack.announce("Latency bench: pause and resume")
        pauses = []
        for _ in range(args.pauses):
            stack.wait_for(
                lambda: stack.announcement(broadcast).sent > 0, timeout=30, what="sending"
            )
            time.sleep(1.5)  # let it send at full rate before pausing
            pauses.append(pause_latency(stack, broadcast))
            with stack.database.session() as session:
                service.resume(session, broadcast)
        stack.wait_for(
            lambda: stack.announcement(broadcast).status is AnnouncementStatus.COMPLETED,
            timeout=args.recipients / 1500 + 60,
            what="the paused broadcast to complete",
            poll=1.0,
        )
        seen = stack.sim.stats()
        done = stack.announcement(broadcast)

    sent_once = (
        seen["visible_messages"] - before == args.recipients and done.sent == args.recipients
    )
    p95 = percentile(starts, 0.95)
    figures: dict[str, Any] = {
        "start_samples": len(starts),
        "start_latency_seconds": {
            "p50": round(percentile(starts, 0.5), 3),
            "p95": round(p95, 3),
            "max": round(max(starts), 3),
            "all": [round(s, 3) for s in starts],
        },
        "start_target_p95": START_TARGET_P95,
        "pause_latency_seconds": [round(p, 3) for p in pauses],
        "pause_latency_max": round(max(pauses), 3),
        "pause_target": PAUSE_TARGET,
        "resumed_broadcast_sent_each_once": sent_once,
        "duplicate_message_ids": seen["duplicate_message_ids"],
        "rate_limited_429": seen["rate_limited_429"],
        "met": p95 <= START_TARGET_P95 and max(pauses) <= PAUSE_TARGET and sent_once,
    }
    run.save(
        figures,
        f"latency: scheduled_at to first accepted batch p50 {percentile(starts, 0.5):.2f} s, "
        f"p95 {p95:.2f} s (goal {START_TARGET_P95} s, {len(starts)} samples); pause took effect "
        f"within {max(pauses):.2f} s (goal {PAUSE_TARGET} s, {len(pauses)} pauses); resume re-sent "
        f"nothing: {sent_once and seen['duplicate_message_ids'] == 0}",
    )


if __name__ == "__main__":
    main()
