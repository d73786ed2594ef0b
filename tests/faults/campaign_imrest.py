"""The fault campaign against the IM REST simulator (``BLAZECAST_FAULTS_PROVIDER=imrest``).

Each scenario is one 50,000-recipient broadcast of an IM REST bot at the spec's assumed budget
(600 requests a minute: 500 requests of 100 targets, under a minute) through two send workers,
the control worker and beat as real processes, with the simulator in a thread of this process.
The IM REST API deduplicates a request by ``transaction_id`` for 60 s only, so exactly once
rests on blazecast retrying within that horizon (a dead worker's batch is re-queued after 10 s).
It ends with:

- every reachable recipient served exactly once: the simulator's per-user count of copies of
  the message is 1 for each of them, and Postgres records each of them as sent once;
- users the server does not know (code 10000) failed, and only they; no fate left unknown;
- the announcement's counters equal a count of its rows;
- no rolling 60 s window above the request budget (the simulator's exact count), whatever broke.
"""

from __future__ import annotations

import random
import threading
import time
from typing import Any

from sqlalchemy import func, insert, select

from bench.harness.imrest import ImRestStack, running_imrest_stack
from models import Announcement, AnnouncementStatus, Batch, Delivery, DeliveryState, Recipient
from simulator.imrest import RecipientBehaviour
from simulator.imrest.faults import FaultPlan
from tests.faults import injectors
from tests.faults.campaign import CAMPAIGN_ENV, RECIPIENTS, Scenario
from tests.faults.injectors import FaultContext

BUDGET_PER_MINUTE = 600


def _reached(stack: Any) -> int:
    return int(stack.sim.stats()["per_user"]["users"])


def run_imrest_scenario(scenario: Scenario, *, seed: int, timeout: float = 240.0) -> dict[str, Any]:
    """Run one scenario against the IM REST simulator; ``problems`` lists every failed check.

    ``scenario.faults`` is an IM REST fault plan (``simulator.imrest.faults.FaultPlan`` fields);
    ``blocked_fraction`` adds that share of recipients the server does not know (10000)."""
    plan = FaultPlan(**{**scenario.faults, "seed": seed}) if scenario.faults else None
    with running_imrest_stack(
        "faults-imrest",
        RECIPIENTS,
        requests_per_minute=BUDGET_PER_MINUTE,
        faults=plan,
        behaviour=RecipientBehaviour.fast(),
        send_workers=2,
        concurrency=2,
        env=CAMPAIGN_ENV,
        seed=seed,
        run_name=f"runs/{scenario.name}",
    ) as stack:
        unknown_users = _add_unknown_users(stack, scenario.blocked_fraction)
        finished = threading.Event()
        context = FaultContext(stack, random.Random(seed), finished, RECIPIENTS, reached=_reached)
        threads = [threading.Thread(target=injectors.supervise, args=(context,), daemon=True)]
        if scenario.injector is not None:
            threads.append(threading.Thread(target=scenario.injector, args=(context,), daemon=True))
        started = time.monotonic()
        announcement_id = stack.announce(f"Fault campaign (IM REST): {scenario.name}")
        for thread in threads:
            thread.start()
        try:
            stack.wait_for(
                lambda: _status(stack, announcement_id) is AnnouncementStatus.COMPLETED,
                timeout=timeout,
                what=f"the {scenario.name} broadcast to complete",
                allow_dead=True,
            )
        finally:
            finished.set()
            for thread in threads:
                thread.join(timeout=60)
        seconds = time.monotonic() - started
        stack.sim.set_faults()
        done = stack.announcement(announcement_id)
        seen = stack.sim.stats()
        counts = _counts(stack, announcement_id)
    return _judge(scenario, unknown_users, seconds, done, seen, counts, context.log)


def _add_unknown_users(stack: ImRestStack, fraction: float) -> int:
    """Recipients whose ids the server does not know: it answers 10000 for them."""
    count = round(RECIPIENTS * fraction)
    if count:
        first = max(stack.sim.user_ids) + 1_000_000
        with stack.database.session() as session:
            session.execute(
                insert(Recipient),
                [{"bot_id": stack.bot.id, "user_id": str(first + i)} for i in range(count)],
            )
    return count


def _status(stack: ImRestStack, announcement_id: Any) -> AnnouncementStatus | None:
    try:
        return stack.announcement(announcement_id).status
    except Exception:  # Postgres restarting: ask again at the next poll
        return None


def _counts(stack: ImRestStack, announcement_id: Any) -> dict[str, int]:
    with stack.database.session() as session:
        rows = dict(
            session.execute(
                select(Delivery.state, func.count())
                .where(Delivery.announcement_id == announcement_id)
                .group_by(Delivery.state)
            ).all()
        )
        sent_rows = session.execute(
            select(func.count()).where(
                Delivery.announcement_id == announcement_id, Delivery.sent_at.is_not(None)
            )
        ).scalar_one()
        attempts, batches, worst = session.execute(
            select(func.sum(Batch.attempts), func.count(), func.max(Batch.attempts)).where(
                Batch.announcement_id == announcement_id
            )
        ).one()
    return {
        "sent": sent_rows,
        "failed": rows.get(DeliveryState.FAILED, 0),
        "skipped": rows.get(DeliveryState.SKIPPED, 0),
        "unknown": rows.get(DeliveryState.UNKNOWN, 0),
        "batch_attempts": int(attempts or 0),
        "batches": batches,
        "worst_batch_attempts": int(worst or 0),
    }


def _judge(
    scenario: Scenario,
    unknown_users: int,
    seconds: float,
    done: Announcement,
    seen: dict[str, Any],
    counts: dict[str, int],
    log: list[str],
) -> dict[str, Any]:
    problems = []
    per_user = seen["per_user"]
    if per_user["copies"] != {"1": RECIPIENTS}:
        problems.append(f"copies per user {per_user['copies']}, expected {{'1': {RECIPIENTS}}}")
    if counts["sent"] != RECIPIENTS:
        problems.append(f"{counts['sent']} deliveries recorded sent, {RECIPIENTS} reachable")
    if counts["failed"] != unknown_users:
        problems.append(f"{counts['failed']} failed, {unknown_users} users unknown to the server")
    if counts["unknown"]:
        problems.append(f"{counts['unknown']} recipients' fate left unknown")
    counters = {k: getattr(done, k) for k in ("sent", "failed", "skipped", "unknown")}
    recount = {k: counts[k] for k in counters}
    if counters != recount:
        problems.append(f"counters {counters} differ from the rows {recount}")
    window = seen["requests_window"]
    if window["largest"] > BUDGET_PER_MINUTE:
        problems.append(f"a rolling 60 s window held {window['largest']} > {BUDGET_PER_MINUTE}")
    batches = max(counts["batches"], 1)
    return {
        "scenario": scenario.name,
        "provider": "imrest",
        "what": scenario.what,
        "recipients": RECIPIENTS + unknown_users,
        "reachable": RECIPIENTS,
        "blocked": unknown_users,
        "seconds_to_complete": round(seconds, 1),
        "attempts_per_batch": round(counts["batch_attempts"] / batches, 3),
        "worst_batch_attempts": counts["worst_batch_attempts"],
        "copies_per_user": per_user["copies"],
        "dedup_hits": seen["dedup"]["hits"],
        "largest_rolling_60s_requests": window["largest"],
        "rate_limited_429": seen["rate_limited_429"],
        "faults_injected": seen.get("faults_injected", {}),
        "counters": counters,
        "events": log,
        "problems": problems,
    }
