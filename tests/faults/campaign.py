"""The fault campaign: one broadcast per scenario through the real stack, then the checks.

Every scenario sends to the same seeded audience at the real quota (100,000 per minute) through
two send workers, the control worker, beat and the listener (real processes), with the simulator
in its own process (receipts on: every message DELIVERED and READ within 0.2 s). It ends with:

- every reachable recipient served exactly once: the simulator saw exactly one distinct message
  id per reachable user (re-sends of the same id are not shown twice to a user) and Postgres
  records each of them as sent once; blocked users are failed, and only they;
- the announcement's counters equal a count of its rows (sent, failed, skipped, delivered,
  read), and delivered/read equal what the simulator pushed while the listener was listening;
- no rolling 60 s window above the quota, whatever broke.

A supervisor thread restarts any process that exits by itself, as the deployment's ``restart:
unless-stopped`` does; each restart is listed in the scenario's events.

``run_scenario`` returns the figures the summary reports: time to finish, attempts per batch,
copies accepted per visible message, what was injected.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select

from bench.harness.population import make_audience
from bench.harness.simproc import FAST_BEHAVIOUR
from bench.harness.stack import BenchStack, running_stack
from models import Announcement, AnnouncementStatus, Batch, Delivery, DeliveryState
from tests.faults import injectors
from tests.faults.injectors import FaultContext, Injector

QUOTA_PER_MINUTE = 100_000
RECIPIENTS = 50_000
# Recovery knobs an operator would shorten for a demanding service: a dead worker's batch is
# re-queued after 10 s rather than a minute. Everything else is the default.
CAMPAIGN_ENV = {
    "BLAZECAST_LEASE_SECONDS": "10",
    "BLAZECAST_REQUEUE_AFTER_SECONDS": "10",
}


@dataclass(frozen=True)
class Scenario:
    name: str
    what: str
    injector: Injector | None = None
    faults: Mapping[str, Any] = field(default_factory=dict)  # for the whole broadcast
    blocked_fraction: float = 0.0
    queue_receipts: bool = False
    # Whether the fault can make a batch go out twice (a reply lost after the provider accepted
    # it): the provider then sees a message id again, and shows it once. Otherwise a re-send is
    # a bug.
    may_resend: bool = False
    # Receipts inside a SIGKILLed listener (read from the socket, not yet in Redis) are gone for
    # good: the provider never pushes a receipt twice (mixin-protocol.md §3.5). At most this many
    # may be missing; how many were is reported either way.
    receipts_lost_at_most: int = 0
    # How long after the broadcast completed the receipts may take to be all applied.
    settle_seconds: float = 20.0


def _counts(stack: BenchStack, announcement_id: Any) -> dict[str, int]:
    """Recount from the rows what the announcement's counters claim."""
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
        delivered_rows = session.execute(
            select(func.count()).where(
                Delivery.announcement_id == announcement_id, Delivery.delivered_at.is_not(None)
            )
        ).scalar_one()
        read_rows = session.execute(
            select(func.count()).where(
                Delivery.announcement_id == announcement_id, Delivery.read_at.is_not(None)
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
        "delivered": delivered_rows,
        "read": read_rows,
        "batch_attempts": int(attempts or 0),
        "batches": batches,
        "worst_batch_attempts": int(worst or 0),
    }


def run_scenario(scenario: Scenario, *, seed: int, timeout: float = 240.0) -> dict[str, Any]:
    """Run one scenario; returns its figures (``problems`` lists every check that failed)."""
    audience = make_audience(RECIPIENTS, seed=seed, blocked_fraction=scenario.blocked_fraction)
    faults = {**scenario.faults, "seed": seed} if scenario.faults else None
    with running_stack(
        "faults",
        audience,
        quota_per_minute=QUOTA_PER_MINUTE,
        send_workers=2,
        concurrency=2,
        env=CAMPAIGN_ENV,
        behaviour=FAST_BEHAVIOUR,
        faults=faults,
        queue_receipts=scenario.queue_receipts,
        seed=seed,
        run_name=f"runs/{scenario.name}",
    ) as stack:
        finished = threading.Event()
        context = FaultContext(stack, random.Random(seed), finished, RECIPIENTS)
        threads = [threading.Thread(target=injectors.supervise, args=(context,), daemon=True)]
        if scenario.injector is not None:
            threads.append(threading.Thread(target=scenario.injector, args=(context,), daemon=True))
        started = time.monotonic()
        announcement_id = stack.announce(f"Fault campaign: {scenario.name}")
        for thread in threads:
            thread.start()
        try:
            stack.wait_for(
                lambda: _status(stack, announcement_id) is AnnouncementStatus.COMPLETED,
                timeout=timeout,
                what=f"the {scenario.name} broadcast to complete",
                poll=0.5,
                allow_dead=True,
            )
        finally:
            finished.set()
            for thread in threads:
                thread.join(timeout=60)
        seconds = time.monotonic() - started
        stack.sim.set_faults()  # receipts and stats settle without further faults
        done, seen = _settle(stack, announcement_id, scenario.settle_seconds)
        counts = _counts(stack, announcement_id)
    return _judge(
        scenario,
        audience.reachable,
        len(audience.blocked),
        seconds,
        done,
        seen,
        counts,
        context.log,
    )


def unfinished(scenario: Scenario, error: BaseException) -> dict[str, Any]:
    """The summary row of a scenario that did not finish (it timed out, or the stack broke)."""
    return {
        "scenario": scenario.name,
        "what": scenario.what,
        "recipients": RECIPIENTS,
        "seconds_to_complete": None,
        "problems": [f"did not finish: {type(error).__name__}: {str(error).splitlines()[0]}"],
        "events": [],
    }


def _status(stack: BenchStack, announcement_id: Any) -> AnnouncementStatus | None:
    try:
        return stack.announcement(announcement_id).status
    except Exception:  # Postgres restarting: ask again at the next poll
        return None


def _settle(
    stack: BenchStack, announcement_id: Any, seconds: float
) -> tuple[Announcement, dict[str, Any]]:
    """Wait (up to ``seconds``) until the receipts the simulator pushed are all applied."""
    deadline = time.monotonic() + seconds
    while True:
        done, seen = stack.announcement(announcement_id), stack.sim.stats()
        if (done.delivered, done.read) == (seen["messages_delivered"], seen["messages_read"]):
            return done, seen
        if time.monotonic() > deadline:
            return done, seen
        time.sleep(0.5)


def _judge(
    scenario: Scenario,
    reachable: int,
    blocked: int,
    seconds: float,
    done: Announcement,
    seen: dict[str, Any],
    counts: dict[str, int],
    log: list[str],
) -> dict[str, Any]:
    problems = []
    if seen["visible_messages"] != reachable:
        problems.append(f"users saw {seen['visible_messages']} messages, {reachable} reachable")
    if counts["sent"] != reachable:
        problems.append(f"{counts['sent']} deliveries recorded sent, {reachable} reachable")
    if counts["failed"] != blocked:
        problems.append(f"{counts['failed']} failed, {blocked} users blocked the bot")
    counters = {k: getattr(done, k) for k in ("sent", "failed", "skipped", "delivered", "read")}
    recount = {k: counts[k] for k in counters}
    if counters != recount:
        problems.append(f"counters {counters} differ from the rows {recount}")
    lost_receipts = {
        "delivered": seen["messages_delivered"] - done.delivered,
        "read": seen["messages_read"] - done.read,
    }
    if sum(lost_receipts.values()) > scenario.receipts_lost_at_most:
        problems.append(f"receipts pushed but not recorded: {lost_receipts}")
    if seen["duplicate_message_ids"] and not scenario.may_resend:
        problems.append(
            f"{seen['duplicate_message_ids']} message ids re-sent with no fault to cause it"
        )
    if seen["max_rolling_60s"] > QUOTA_PER_MINUTE:
        problems.append(f"a rolling 60 s window held {seen['max_rolling_60s']} > quota")
    batches = max(counts["batches"], 1)
    return {
        "scenario": scenario.name,
        "what": scenario.what,
        "recipients": RECIPIENTS,
        "reachable": reachable,
        "blocked": blocked,
        "seconds_to_complete": round(seconds, 1),
        "attempts_per_batch": round(counts["batch_attempts"] / batches, 3),
        "worst_batch_attempts": counts["worst_batch_attempts"],
        "copies_accepted_per_visible_message": round(
            seen["messages_accepted"] / max(seen["visible_messages"], 1), 4
        ),
        "duplicate_message_ids": seen["duplicate_message_ids"],
        "max_rolling_60s": seen["max_rolling_60s"],
        "rate_limited_429": seen["rate_limited_429"],
        "errors_sent": seen["errors_sent"],
        "faults_injected": seen.get("faults_injected", {}),
        "counters": counters,
        "lost_receipts": lost_receipts,
        "events": log,
        "problems": problems,
    }
