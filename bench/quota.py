"""Quota use: a broadcast at the real quota uses all of it, never more.

200,000 recipients, the bot's quota at Mixin's 100,000 messages per minute (the simulator enforces
the same quota and answers 429 above it), receipts on. The figures come from the simulator, the
party that counts: the share of the quota sustained once sending started (whole seconds between
the first and the last), the 429s, and the largest count in any rolling 60 s window (exact: the
simulator updates it on every accepted batch). The plot shows messages per second against the
quota line, and the rolling 60 s count against the quota.

    .venv/bin/python -m bench.quota                       # 200,000 recipients, ~2.5 minutes
    .venv/bin/python -m bench.quota --recipients 50000    # a shorter look
    .venv/bin/python -m bench.quota --provider imrest     # an IM REST bot (bench.quota_imrest)
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from bench.harness.population import make_audience
from bench.harness.results import RESULTS, Run
from bench.harness.sampling import Sampler
from bench.harness.stack import running_stack
from bench.harness.timeline import rolling_sums, steady_rate
from models import AnnouncementStatus

QUOTA_PER_MINUTE = 100_000
TARGET_SHARE = 0.985


def plot(
    per_second: list[list[int]],
    quota: int,
    bucket_rate: float,
    path_png: str,
    planned_at: float | None = None,
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    first = min(s for s, _ in per_second)
    xs = [s - first for s, _ in sorted(per_second)]
    ys = [n for _, n in sorted(per_second)]
    rolling = rolling_sums(per_second)
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 6.5), sharex=True)
    top.step(xs, ys, where="post", color="tab:blue", label="accepted by the simulator, per second")
    top.axhline(quota / 60, color="tab:red", linestyle="--", label=f"quota: {quota / 60:,.0f}/s")
    top.axhline(
        bucket_rate, color="tab:green", linestyle=":", label=f"bucket rate {bucket_rate:,.1f}/s"
    )
    if planned_at is not None:
        top.axvspan(0, planned_at - first, color="0.9", label="planning still running")
    top.set_ylabel("messages per second")
    top.set_ylim(0, quota / 60 * 1.25)
    top.legend(loc="lower center")
    top.set_title("blazecast at the real quota (100,000 messages per minute)")
    bottom.plot(
        [s - first for s, _ in rolling],
        [n for _, n in rolling],
        color="tab:blue",
        label="messages in the 60 s ending at that second",
    )
    bottom.axhline(quota, color="tab:red", linestyle="--", label=f"quota: {quota:,} per 60 s")
    bottom.set_ylabel("rolling 60 s count")
    bottom.set_xlabel("seconds since the first accepted message")
    bottom.set_ylim(0, quota * 1.1)
    bottom.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path_png, dpi=110)
    plt.close(fig)


def main() -> None:
    if "--provider" in sys.argv and sys.argv[sys.argv.index("--provider") + 1 :][:1] == ["imrest"]:
        from bench import quota_imrest

        quota_imrest.main(sys.argv[1:])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--provider", choices=["mixin", "imrest"], default="mixin")
    parser.add_argument("--recipients", type=int, default=200_000)
    parser.add_argument("--send-workers", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--timeout", type=float, default=420.0, help="hard limit for the broadcast")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    run = Run("quota")
    audience = make_audience(args.recipients, seed=args.seed)
    with running_stack(
        "quota",
        audience,
        quota_per_minute=QUOTA_PER_MINUTE,
        send_workers=args.send_workers,
        concurrency=args.concurrency,
        seed=args.seed,
    ) as stack:
        sampler = Sampler(stack.components(), interval=1.0).start()
        started = time.monotonic()
        announcement_id = stack.announce("Quota bench: hello from blazecast")
        planned_at: float | None = None  # unix time at which planning was seen finished

        def completed() -> bool:
            nonlocal planned_at
            done = stack.announcement(announcement_id)
            if planned_at is None and done.planned:
                planned_at = time.time()
            return done.status is AnnouncementStatus.COMPLETED

        stack.wait_for(completed, timeout=args.timeout, what="the broadcast to complete", poll=0.5)
        elapsed = time.monotonic() - started
        usage = sampler.stop()
        seen = stack.sim.stats()
        done = stack.announcement(announcement_id)

    from worker.ratelimit import quota_spec

    bucket_rate = quota_spec("bench", QUOTA_PER_MINUTE).rate_per_second
    per_second = seen["accepted_per_second"]
    rate, span = steady_rate(per_second)
    share = rate / (QUOTA_PER_MINUTE / 60)
    # The same, counted only from the first whole second after planning finished.
    after_planning = [[s, n] for s, n in per_second if planned_at is not None and s > planned_at]
    rate_after, span_after = steady_rate(after_planning)
    png = RESULTS / "quota.png"
    RESULTS.mkdir(parents=True, exist_ok=True)
    plot(per_second, QUOTA_PER_MINUTE, bucket_rate, str(png), planned_at)
    figures: dict[str, Any] = {
        "recipients": args.recipients,
        "quota_per_minute": QUOTA_PER_MINUTE,
        "bucket_rate_per_second": round(bucket_rate, 1),
        "send_workers": args.send_workers,
        "concurrency": args.concurrency,
        "steady_rate_per_second": round(rate, 1),
        "steady_seconds": span,
        "share_of_quota": round(share, 4),
        "seconds_planning_overlapped_sending": (
            round(planned_at - min(s for s, _ in per_second), 1) if planned_at else None
        ),
        "steady_rate_after_planning_per_second": round(rate_after, 1),
        "share_of_quota_after_planning": round(rate_after / (QUOTA_PER_MINUTE / 60), 4),
        "steady_seconds_after_planning": span_after,
        "target_share": TARGET_SHARE,
        "rate_limited_429": seen["rate_limited_429"],
        "max_rolling_60s": seen["max_rolling_60s"],
        "visible_messages": seen["visible_messages"],
        "duplicate_message_ids": seen["duplicate_message_ids"],
        "largest_batch": seen["largest_batch"],
        "announcement": {"sent": done.sent, "failed": done.failed, "total": done.total},
        "seconds_to_complete": round(elapsed, 1),
        "cpu_seconds": {name: round(u.cpu_seconds, 1) for name, u in usage.items()},
        "met": share >= TARGET_SHARE
        and seen["rate_limited_429"] == 0
        and seen["max_rolling_60s"] <= QUOTA_PER_MINUTE
        and seen["visible_messages"] == args.recipients,
        "plot": png.name,
        "accepted_per_second": per_second,
    }
    run.save(
        figures,
        f"quota: {share:.2%} of the quota sustained over {span} s ({rate:,.0f} msg/s; "
        f"{rate_after / (QUOTA_PER_MINUTE / 60):.2%} once planning had finished), "
        f"{seen['rate_limited_429']} 429s, worst rolling 60 s = {seen['max_rolling_60s']:,} "
        f"(quota {QUOTA_PER_MINUTE:,}), {seen['visible_messages']:,}/{args.recipients:,} "
        f"delivered once, {elapsed:.0f} s",
    )


if __name__ == "__main__":
    main()
