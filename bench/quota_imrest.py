"""Request budget use of an IM REST bot: sending and status polling share one budget.

``python -m bench.quota --provider imrest``: one IM REST bot with the spec's assumed budget of
600 requests a minute (10 a second), 120,000 recipients (1,200 requests of 100 targets), the
default polling schedule (first poll a minute after a batch was sent) and sampling. The figures
come from the IM REST simulator, the party that counts: the largest number of requests in any
rolling 60 s window (exact), the steady share of the budget used by all requests, by sends and by
status polls (``GET /message/conversation``), and whether every user got the message once. The
plot shows requests per second by kind against the budget and polling's share.
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from typing import Any

from bench.harness.imrest import running_imrest_stack
from bench.harness.results import RESULTS, Run
from bench.harness.sampling import Sampler
from bench.harness.timeline import steady_rate
from models import AnnouncementStatus
from worker.messaging.imrest.settings import DEFAULT_POLL_SHARE

REQUESTS_PER_MINUTE = 600
TARGET_SHARE = 0.97


def per_second_by_kind(log: list[dict[str, Any]]) -> dict[str, list[list[int]]]:
    """Requests per whole second, for sends and for polls (the simulator's request log)."""
    kinds: dict[str, Counter[int]] = {"send": Counter(), "poll": Counter()}
    for entry in log:
        path = entry["path"]
        kind = "send" if path in ("/message/send", "/message/notify") else "poll"
        if path.startswith("/message/conversation") or kind == "send":
            kinds[kind][int(entry["at"])] += 1
    return {kind: sorted([s, n] for s, n in counts.items()) for kind, counts in kinds.items()}


def plot(by_kind: dict[str, list[list[int]]], budget: int, share: float, path_png: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    seconds = sorted({s for rows in by_kind.values() for s, _ in rows})
    first, last = seconds[0], seconds[-1]
    xs = list(range(first, last + 1))
    send = dict((s, n) for s, n in by_kind["send"])
    poll = dict((s, n) for s, n in by_kind["poll"])
    fig, ax = plt.subplots(figsize=(9, 4.5))
    ax.stackplot(
        [x - first for x in xs],
        [send.get(x, 0) for x in xs],
        [poll.get(x, 0) for x in xs],
        labels=["sends (POST /message/send)", "status polls (GET /message/conversation)"],
        colors=["tab:blue", "tab:orange"],
        step="post",
    )
    ax.axhline(budget / 60, color="tab:red", linestyle="--", label=f"budget {budget / 60:g}/s")
    ax.axhline(
        budget / 60 * share, color="tab:orange", linestyle=":", label=f"polling's share {share:.0%}"
    )
    ax.set_ylim(0, budget / 60 * 2)
    ax.set_xlabel("seconds since the first request")
    ax.set_ylabel("requests per second")
    ax.set_title("One IM REST bot: sending and polling under one request budget")
    ax.legend(loc="upper right")
    fig.tight_layout()
    fig.savefig(path_png, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--provider", choices=["imrest"], default="imrest")
    parser.add_argument("--recipients", type=int, default=120_000)
    parser.add_argument("--budget", type=int, default=REQUESTS_PER_MINUTE, help="requests/min")
    parser.add_argument("--poll-delays", default="60,600,3600,86400")
    parser.add_argument("--timeout", type=float, default=900.0)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)

    run = Run("quota_imrest")
    options = {"poll_delays": args.poll_delays}
    with running_imrest_stack(
        "quota-imrest", args.recipients, requests_per_minute=args.budget, options=options
    ) as stack:
        sampler = Sampler(stack.components(), interval=1.0).start()
        started = time.monotonic()
        announcement_id = stack.announce("Quota bench: hello from blazecast over IM REST")
        stack.wait_for(
            lambda: stack.announcement(announcement_id).status is AnnouncementStatus.COMPLETED,
            timeout=args.timeout,
            what="the broadcast to complete",
        )
        elapsed = time.monotonic() - started
        usage = sampler.stop()
        seen = stack.sim.stats()
        log = stack.sim.requests()
        done = stack.announcement(announcement_id)

    by_kind = per_second_by_kind(log)
    every = Counter[int]()
    for rows in by_kind.values():
        for s, n in rows:
            every[s] += n
    total_rate, span = steady_rate(sorted([s, n] for s, n in every.items()))
    send_rate, _ = steady_rate(by_kind["send"])
    polls = sum(n for _, n in by_kind["poll"])
    poll_rate = polls / span if span else 0.0
    budget_per_second = args.budget / 60
    window = seen["requests_window"]
    png = RESULTS / "quota_imrest.png"
    RESULTS.mkdir(parents=True, exist_ok=True)
    plot(by_kind, args.budget, DEFAULT_POLL_SHARE, str(png))
    share = total_rate / budget_per_second
    figures: dict[str, Any] = {
        "recipients": args.recipients,
        "budget_requests_per_minute": args.budget,
        "poll_delays": args.poll_delays,
        "steady_seconds": span,
        "share_of_budget": round(share, 4),
        "send_share_of_budget": round(send_rate / budget_per_second, 4),
        "poll_share_of_budget": round(poll_rate / budget_per_second, 4),
        "poll_requests": polls,
        "largest_rolling_60s": window["largest"],
        "largest_rolling_60s_by_operation": window.get("largest_by_operation"),
        "rate_limited_429": seen["rate_limited_429"],
        "copies": seen["per_user"]["copies"],
        "dedup_hits": seen["dedup"]["hits"],
        "announcement": {
            "sent": done.sent,
            "failed": done.failed,
            "unknown": done.unknown,
            "delivered": done.delivered,
            "read": done.read,
        },
        "seconds_to_complete": round(elapsed, 1),
        "cpu_seconds": {name: round(u.cpu_seconds, 1) for name, u in usage.items()},
        "target_share": TARGET_SHARE,
        "met": share >= TARGET_SHARE
        and window["largest"] <= args.budget
        and poll_rate <= budget_per_second * DEFAULT_POLL_SHARE * 1.01
        and seen["per_user"]["copies"] == {"1": args.recipients},
        "plot": png.name,
        "per_second": by_kind,
    }
    run.save(
        figures,
        f"quota (IM REST): {share:.2%} of the request budget used over {span} s "
        f"(sends {send_rate / budget_per_second:.2%}, polls {poll_rate / budget_per_second:.2%}; "
        f"polling's share {DEFAULT_POLL_SHARE:.0%}), largest rolling 60 s = {window['largest']} "
        f"requests (budget {args.budget}), {seen['rate_limited_429']} 429s, copies per user "
        f"{seen['per_user']['copies']}, {elapsed:.0f} s",
    )


if __name__ == "__main__":
    main()
