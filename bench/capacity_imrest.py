"""Capacity of an IM REST bot: with the request budget lifted, how many recipients per second
blazecast serves end to end, and what each costs in CPU.

``python -m bench.capacity --provider imrest``: one IM REST bot, its budget lifted far above what
two cores can send, 100,000 recipients (1,000 requests of 100 targets), one send worker with 8
processes; measured from the announcement's creation until every recipient is recorded sent in
Postgres. The IM REST simulator runs in a thread of the bench process (its CPU is reported as
the bench process's). Status polling is left out (its first poll is an hour away): a poll costs
a request per recipient and is bounded by the budget, not by blazecast.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from bench.harness.imrest import running_imrest_stack
from bench.harness.results import Run
from bench.harness.sampling import Sampler
from models import AnnouncementStatus

LIFTED_BUDGET = 6_000_000  # requests per minute


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--provider", choices=["imrest"], default="imrest")
    parser.add_argument("--recipients", type=int, default=100_000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--timeout", type=float, default=300.0)
    args = parser.parse_args(argv)

    run = Run("capacity_imrest")
    with running_imrest_stack(
        "capacity-imrest",
        args.recipients,
        requests_per_minute=LIFTED_BUDGET,
        options={"poll_delays": "3600"},
        concurrency=args.concurrency,
    ) as stack:
        sampler = Sampler(stack.components(), interval=0.5).start()
        started = time.monotonic()
        announcement_id = stack.announce("Capacity bench: hello from blazecast over IM REST")
        stack.wait_for(
            lambda: stack.announcement(announcement_id).status is AnnouncementStatus.COMPLETED,
            timeout=args.timeout,
            what="the broadcast to complete",
            poll=0.2,
        )
        elapsed = time.monotonic() - started
        usage = sampler.stop()
        seen = stack.sim.stats()
        done = stack.announcement(announcement_id)
    cpu = {name: u.cpu_seconds for name, u in usage.items()}
    per_second = done.sent / elapsed
    figures: dict[str, Any] = {
        "recipients": args.recipients,
        "concurrency": args.concurrency,
        "seconds": round(elapsed, 2),
        "recipients_per_second": round(per_second, 1),
        "requests_per_second": round(seen["requests"].get("send", 0) / elapsed, 1),
        "cpu_us_per_recipient": {
            name: round(seconds / max(done.sent, 1) * 1e6, 1) for name, seconds in cpu.items()
        },
        "cores_busy": round(sum(cpu.values()) / elapsed, 2),
        "copies": seen["per_user"]["copies"],
        "announcement": {"sent": done.sent, "failed": done.failed, "unknown": done.unknown},
    }
    run.save(
        figures,
        f"capacity (IM REST): {per_second:,.0f} recipients/s end to end "
        f"({figures['requests_per_second']:,.0f} requests/s of 100 targets), "
        f"{sum(cpu.values()) / max(done.sent, 1) * 1e6:.0f} µs CPU per recipient, "
        f"{figures['cores_busy']} cores busy, copies per user {seen['per_user']['copies']}",
    )


if __name__ == "__main__":
    main()
