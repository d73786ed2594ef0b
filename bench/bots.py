"""Many bots: three bots at their own quota at once, a capped announcement beside an uncapped one,
and pause and cancel of capped work mid-send (issue 11).

Everything on loopback: the simulator serves three bots at ``--quota`` messages a minute each
(exact rolling windows per bot, 429 above), the stack is real processes (send worker, control
worker, beat, one listener serving every bot). Phase 1 starts together one announcement of
``--recipients`` per bot plus, on bot 1, a second one capped at ``--cap`` a minute (to
``--capped-recipients`` of them). Figures, all from the simulator's own stamps and counts:

- per bot: the share of its quota used while it had uncapped work (whole seconds between its
  first message and its uncapped announcement's last), its largest rolling 60 s count, 429s;
- the capped announcement: its largest rolling 60 s count (exact, from each message's stamp) and
  the share of the cap it kept; the uncapped one on bot 1: the share of the rest it got;
- every recipient once (distinct ids per announcement, no duplicate), counters equal the
  simulator's (sent per announcement and bot; DELIVERED and READ once the receipts settled).

Phase 2 pauses a capped announcement ``--pauses`` times and cancels ``--cancels`` capped ones,
each mid-send at a random moment, and counts the messages the simulator accepted from the
moment the pause or cancel was requested (so the count can only be too high); one request in
flight at that moment is allowed (the messages of one request are stamped within 1 ms of each
other; a longer gap starts another request).

    .venv/bin/python -m bench.bots                 # ~5 minutes, under the heavy lock
    .venv/bin/python -m bench.bots --recipients 3000 --capped-recipients 600 --pauses 2 --cancels 2
"""

from __future__ import annotations

import argparse
import random
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text

from bench.harness.bots import BenchBot
from bench.harness.bots_plot import plot
from bench.harness.population import make_audience
from bench.harness.results import RESULTS, Run
from bench.harness.stack import BenchStack, running_stack
from bench.harness.timeline import per_second, rolling_peak, steady_rate
from models import AnnouncementStatus
from worker.api import Blazecast
from worker.broadcast.service import Audience

CAPPED_TAG = "capped"
REQUEST_GAP_NS = 1_000_000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipients", type=int, default=20_000, help="per bot")
    parser.add_argument("--capped-recipients", type=int, default=5_000)
    parser.add_argument("--quota", type=int, default=20_000, help="per bot, messages a minute")
    parser.add_argument("--cap", type=int, default=3_000, help="messages a minute")
    parser.add_argument("--pauses", type=int, default=10)
    parser.add_argument("--cancels", type=int, default=10)
    parser.add_argument("--send-workers", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--timeout", type=float, default=420.0)
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()

    run = Run("bots")
    audience = make_audience(args.recipients, seed=args.seed)
    with running_stack(
        "bots",
        audience,
        bot_count=3,
        quota_per_minute=args.quota,
        send_workers=args.send_workers,
        concurrency=args.concurrency,
        seed=args.seed,
    ) as stack:
        tag_capped(stack, stack.bots[0], audience.user_ids[: args.capped_recipients])
        fair = fairness(stack, args)
        api = Blazecast(stack.settings, database=stack.database)
        stops = stop_checks(stack, api, stack.bots[2], args)
    figures = {**fair, "stops": stops, "quota_per_minute": args.quota, "cap_per_minute": args.cap}
    RESULTS.mkdir(parents=True, exist_ok=True)
    png = RESULTS / "bots.png"
    plot(fair.pop("series"), args.quota, args.cap, str(png))
    figures["plot"] = png.name
    figures.pop("series", None)
    run.save(figures, summary(figures))


def tag_capped(stack: BenchStack, bot: BenchBot, user_ids: list[str]) -> None:
    """The capped announcement's audience: these recipients of ``bot`` carry ``CAPPED_TAG``."""
    with stack.database.session() as session:
        session.execute(
            text(
                "UPDATE recipients SET tags = array_append(tags, :tag) "
                "WHERE bot_id = :bot AND user_id = ANY(CAST(:users AS text[]))"
            ),
            {"tag": CAPPED_TAG, "bot": bot.id, "users": user_ids},
        )


def fairness(stack: BenchStack, args: argparse.Namespace) -> dict[str, Any]:
    """Phase 1: every announcement started in the same tick; figures once all completed."""
    at = datetime.now(UTC) + timedelta(seconds=2)
    first, second, third = stack.bots
    names = {
        "bot-1 uncapped": stack.announce("Bots bench: bot 1", bot=first, at=at),
        "bot-1 capped": stack.announce(
            "Bots bench: bot 1, capped",
            bot=first,
            at=at,
            rate_per_minute=args.cap,
            audience=Audience.with_tags([CAPPED_TAG]),
        ),
        "bot-2 uncapped": stack.announce("Bots bench: bot 2", bot=second, at=at),
        "bot-3 uncapped": stack.announce("Bots bench: bot 3", bot=third, at=at),
    }
    stack.wait_for(
        lambda: all(
            stack.announcement(a).status is AnnouncementStatus.COMPLETED for a in names.values()
        ),
        timeout=args.timeout,
        what="the four announcements to complete",
        poll=1.0,
    )
    stats = settled_stats(stack, list(names.values()))
    times = accepted_by_announcement(stack, list(names.values()))
    rows = {name: stack.announcement(a) for name, a in names.items()}
    bot_of = {name: next(b for b in stack.bots if name.startswith(f"{b.name} ")) for name in names}
    per_bot = {}
    series: dict[str, list[list[int]]] = {}
    for bot in stack.bots:
        mine = [t for name, a in names.items() if bot_of[name] is bot for t in times[a]]
        uncapped_last = max(times[names[f"{bot.name} uncapped"]]) // 10**9
        # The bot's traffic while it had uncapped work: up to its uncapped announcement's last second.
        busy = [[s, n] for s, n in per_second(mine) if s <= uncapped_last]
        rate, span = steady_rate(busy)
        series[bot.name] = per_second(mine)
        per_bot[bot.name] = {
            "quota_share_while_uncapped_work": round(rate * 60 / args.quota, 4),
            "steady_rate_per_second": round(rate, 1),
            "steady_seconds": span,
            "max_rolling_60s": stats["max_rolling_60s_by_bot"].get(bot.account_id, 0),
            "quota_429": stats["quota_429_by_bot"].get(bot.account_id, 0),
            "accepted": stats["accepted_by_bot"].get(bot.account_id, 0),
            "sent_counted_by_blazecast": sum(
                rows[name].sent for name in names if bot_of[name] is bot
            ),
        }
    announcements = {}
    for name, announcement_id in names.items():
        row, stamps = rows[name], times[announcement_id]
        rate, span = steady_rate(per_second(stamps))
        series[name] = per_second(stamps)
        announcements[name] = {
            "recipients": row.total,
            "sent": row.sent,
            "failed": row.failed,
            "accepted_by_simulator": len(stamps),
            "delivered": row.delivered,
            "read": row.read,
            "seconds_scheduled_to_first_accepted": round(min(stamps) / 1e9 - at.timestamp(), 2),
            "steady_rate_per_second": round(rate, 1),
            "max_rolling_60s": rolling_peak(stamps),
        }
    capped = announcements["bot-1 capped"]
    capped["cap_share_kept"] = round(capped["steady_rate_per_second"] * 60 / args.cap, 4)
    uncapped = announcements["bot-1 uncapped"]
    uncapped["share_of_rest"] = round(
        uncapped["steady_rate_per_second"] * 60 / (args.quota - args.cap), 4
    )
    once = (
        all(
            a["accepted_by_simulator"] == a["recipients"] == a["sent"]
            for a in announcements.values()
        )
        and stats["duplicate_message_ids"] == 0
    )
    counters_equal = (
        sum(a["sent"] for a in announcements.values()) == stats["messages_accepted"]
        and all(b["accepted"] == b["sent_counted_by_blazecast"] for b in per_bot.values())
        and sum(a["delivered"] for a in announcements.values()) == stats["messages_delivered"]
        and sum(a["read"] for a in announcements.values()) == stats["messages_read"]
    )
    return {
        "bots": per_bot,
        "announcements": announcements,
        "every_recipient_once": once,
        "duplicate_message_ids": stats["duplicate_message_ids"],
        "rate_limited_429_total": stats["rate_limited_429"],
        "counters_equal_simulator": counters_equal,
        "simulator": {
            k: stats[k] for k in ("messages_accepted", "messages_delivered", "messages_read")
        },
        "series": series,
    }


def settled_stats(stack: BenchStack, announcements: list[uuid.UUID]) -> dict[str, Any]:
    """The simulator's stats once blazecast has recorded every receipt it sent (or 60 s)."""
    deadline = time.monotonic() + 60
    while True:
        stats = stack.sim.stats()
        rows = [stack.announcement(a) for a in announcements]
        settled = (
            sum(r.delivered for r in rows) == stats["messages_delivered"]
            and sum(r.read for r in rows) == stats["messages_read"]
        )
        if (settled and stats["receipts_pending"] == 0) or time.monotonic() > deadline:
            return stats
        time.sleep(1.0)


def accepted_by_announcement(
    stack: BenchStack, announcements: list[uuid.UUID]
) -> dict[uuid.UUID, list[int]]:
    """The simulator's accept stamps (Unix ns) of each announcement's messages."""
    owner = {m: a for m, (a, _) in deliveries_of(stack, announcements).items()}
    found: dict[str, list[int]] = {str(a): [] for a in announcements}
    for bot in stack.bots:
        for message_id, at in stack.sim.accepted(bot.account_id):
            announcement = owner.get(message_id)
            if announcement is not None:
                found[announcement].append(at)
    return {uuid.UUID(a): stamps for a, stamps in found.items()}


def deliveries_of(stack: BenchStack, announcements: list[uuid.UUID]) -> dict[str, tuple[str, int]]:
    """``{message_id: (announcement id, batch id)}`` of the announcements' deliveries."""
    with stack.database.session() as session:
        rows = session.execute(
            text(
                "SELECT message_id::text, announcement_id::text, batch_id FROM deliveries "
                "WHERE announcement_id = ANY(CAST(:ids AS uuid[]))"
            ),
            {"ids": [str(a) for a in announcements]},
        ).all()
    return {message: (announcement, batch) for message, announcement, batch in rows}


def stop_checks(
    stack: BenchStack, api: Blazecast, bot: BenchBot, args: argparse.Namespace
) -> dict[str, Any]:
    """Phase 2: pauses and cancels of capped announcements mid-send; messages accepted after."""
    rng = random.Random(args.seed)
    late: dict[str, list[dict[str, int]]] = {"pause": [], "cancel": []}
    paused = stack.announce("Bots bench: paused", bot=bot, rate_per_minute=args.cap)
    for _ in range(args.pauses):
        late["pause"].append(stop_once(stack, api.pause, paused, bot, rng))
        api.resume(paused)
    api.cancel(paused)
    for number in range(args.cancels):
        cancelled = stack.announce(
            f"Bots bench: cancelled {number}", bot=bot, rate_per_minute=args.cap
        )
        late["cancel"].append(stop_once(stack, api.cancel, cancelled, bot, rng))
    return {
        kind: {
            "count": len(runs),
            "messages_after": [r["messages"] for r in runs],
            "requests_after": [r["requests"] for r in runs],
            "within_one_request": all(r["requests"] <= 1 for r in runs),
        }
        for kind, runs in late.items()
    }


def stop_once(
    stack: BenchStack, stop: Any, announcement_id: uuid.UUID, bot: BenchBot, rng: random.Random
) -> dict[str, int]:
    """Wait until it sends, stop it at a random moment within a batch interval, and count what
    the simulator accepted of it from the moment the stop was requested."""
    before = stack.announcement(announcement_id).sent
    stack.wait_for(
        lambda: stack.announcement(announcement_id).sent > before,
        timeout=60,
        what="the capped announcement to send",
        poll=0.1,
    )
    time.sleep(rng.uniform(0.0, 2.5))
    requested_ns = time.time_ns()
    stop(announcement_id)
    time.sleep(3.0)  # past any countdown a throttled batch was published with (2 s at most)
    mine = deliveries_of(stack, [announcement_id])
    after = sorted(
        at for m, at in stack.sim.accepted(bot.account_id) if m in mine and at > requested_ns
    )
    # The simulator stamps the messages of one request within microseconds of each other, and
    # requests at least a round trip apart: a gap over 1 ms starts another request.
    requests = sum(1 for a, b in zip([0, *after], after, strict=False) if b - a > REQUEST_GAP_NS)
    return {"messages": len(after), "requests": requests}


def summary(f: dict[str, Any]) -> str:
    bots = f["bots"]
    capped, uncapped = f["announcements"]["bot-1 capped"], f["announcements"]["bot-1 uncapped"]
    shares = ", ".join(
        f"{name} {b['quota_share_while_uncapped_work']:.2%} (peak 60 s {b['max_rolling_60s']:,})"
        for name, b in bots.items()
    )
    stops = f["stops"]
    return (
        f"bots: quota used {shares} of {f['quota_per_minute']:,}/min; 429s "
        f"{f['rate_limited_429_total']}; capped {capped['cap_share_kept']:.2%} of "
        f"{f['cap_per_minute']:,}/min (peak 60 s {capped['max_rolling_60s']:,}), uncapped beside it "
        f"{uncapped['share_of_rest']:.2%} of the rest; every recipient once: "
        f"{f['every_recipient_once']}; counters = simulator: {f['counters_equal_simulator']}; "
        f"after pause {stops['pause']['messages_after']}, after cancel "
        f"{stops['cancel']['messages_after']} messages"
    )


if __name__ == "__main__":
    main()
