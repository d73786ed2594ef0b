"""A burst of users' commands during a broadcast: answered, acknowledged, within the quota, fair.

A broadcast to 60,000 recipients at the real quota (100,000 per minute) through the whole stack;
10 s into sending, 1,000 of its users each send /stop or /start within about a second (the
simulator's ``/_sim/users/{id}/messages``, from 8 threads). Measured from the simulator, the party
that counts: how long until every user message was acknowledged and every reply accepted, the
largest count in any rolling 60 s window (replies and broadcast together, against the quota), and
the broadcast's own rate in the 10 s before the burst, during the 10 s after it, and overall.

    .venv/bin/python -m bench.listener_burst          # ~1 minute
"""

from __future__ import annotations

import argparse
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests

from bench.harness.population import make_audience
from bench.harness.results import Run
from bench.harness.stack import running_stack
from models import AnnouncementStatus

QUOTA_PER_MINUTE = 100_000


def _say(http_url: str, user: str, text: str) -> None:
    reply = requests.post(f"{http_url}/_sim/users/{user}/messages", json={"text": text}, timeout=30)
    reply.raise_for_status()


def _rate(per_second: dict[int, int], first: int, last: int) -> float:
    return sum(per_second.get(s, 0) for s in range(first, last)) / max(last - first, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipients", type=int, default=60_000)
    parser.add_argument("--burst", type=int, default=1_000)
    args = parser.parse_args()
    run = Run("listener_burst")
    audience = make_audience(args.recipients, seed=5)
    with running_stack(
        "listener_burst", audience, quota_per_minute=QUOTA_PER_MINUTE, send_workers=2
    ) as stack:
        announcement_id = stack.announce("Listener burst bench")
        stack.wait_for(
            lambda: stack.sim.stats()["visible_messages"] > 0, timeout=60, what="sending to start"
        )
        time.sleep(10.0)
        before = stack.sim.stats()
        created_before = before["user_messages_created"]
        acked_before = before["user_messages_acknowledged"]
        users = audience.user_ids[: args.burst]
        started = time.monotonic()
        burst_second = int(time.time())
        with ThreadPoolExecutor(8) as pool:
            list(
                pool.map(
                    lambda i: _say(stack.sim.http_url, users[i], "/stop" if i % 2 else "/start"),
                    range(len(users)),
                )
            )
        injected = time.monotonic() - started
        created = stack.sim.stats()["user_messages_created"] - created_before
        acked_after = stack.wait_for(
            lambda: stack.sim.stats()["user_messages_acknowledged"] - acked_before >= created,
            timeout=60,
            what="every user message to be acknowledged",
            poll=0.05,
        )
        stack.wait_for(
            lambda: stack.announcement(announcement_id).status is AnnouncementStatus.COMPLETED,
            timeout=240,
            what="the broadcast to complete",
        )
        done = stack.announcement(announcement_id)
        seen = stack.sim.stats()
    replies = seen["visible_messages"] - done.sent
    per_second = {s: n for s, n in seen["accepted_per_second"]}
    first, last = min(per_second), max(per_second)
    figures: dict[str, Any] = {
        "recipients": args.recipients,
        "burst_users": len(users),
        "user_messages_in_burst": created,
        "burst_injected_seconds": round(injected, 2),
        "all_acknowledged_after_seconds": round(acked_after + injected, 2),
        "replies_accepted": replies,
        "max_rolling_60s": seen["max_rolling_60s"],
        "quota_per_minute": QUOTA_PER_MINUTE,
        "within_quota": seen["max_rolling_60s"] <= QUOTA_PER_MINUTE,
        "largest_batch": seen["largest_batch"],
        "rate_10s_before_burst": round(_rate(per_second, burst_second - 10, burst_second), 1),
        "rate_10s_from_burst": round(_rate(per_second, burst_second, burst_second + 10), 1),
        "rate_whole_broadcast": round(_rate(per_second, first + 1, last), 1),
        "broadcast_sent": done.sent,
        "broadcast_skipped": done.skipped,
    }
    run.save(
        figures,
        f"listener burst: {created:,} user messages in {injected:.2f} s during a broadcast, all "
        f"acknowledged after {figures['all_acknowledged_after_seconds']} s, {replies:,} replies; "
        f"max rolling 60 s {seen['max_rolling_60s']:,} (quota {QUOTA_PER_MINUTE:,}); accepted/s "
        f"{figures['rate_10s_before_burst']:,} before, {figures['rate_10s_from_burst']:,} from the "
        f"burst (replies included)",
    )


if __name__ == "__main__":
    main()
