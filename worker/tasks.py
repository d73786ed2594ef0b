"""Celery tasks: thin shells that open a session and call one function in ``worker.broadcast``.

Arguments are primitive ids (readable in Flower). Rows are committed before any message that
points at them is published (publish after commit). Infrastructure hiccups (Postgres or Redis
unreachable for a moment) retry the task shortly; everything else is decided by the broadcast
layer, whose own state in Postgres makes every task safe to run twice.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

import redis
from celery import Task, shared_task
from sqlalchemy.exc import InterfaceError, OperationalError

from worker.broadcast import dispatcher, planner, reaper, receipt_journal
from worker.celery_app import runtime_of
from worker.queues import SEND_QUEUE
from worker.runtime import Runtime

log = logging.getLogger(__name__)

# Postgres or Redis unreachable for a moment. Not DataError or IntegrityError: the same input fails
# the same way again, so retrying it only holds up everything queued behind it.
INFRASTRUCTURE_ERRORS = (OperationalError, InterfaceError, redis.RedisError)


class BlazecastTask(Task):
    """Defaults for every task, in one place (STYLE 2)."""

    acks_late = True
    reject_on_worker_lost = True
    ignore_result = True
    autoretry_for = INFRASTRUCTURE_ERRORS
    retry_backoff = 1
    retry_backoff_max = 10
    max_retries = 30

    @property
    def runtime(self) -> Runtime:
        return runtime_of(self.app)


def publish_batches(batch_ids: Iterable[int]) -> None:
    for batch_id in batch_ids:
        send_batch.apply_async((batch_id,), queue=SEND_QUEUE)


@shared_task(bind=True, base=BlazecastTask, name="blazecast.send_batch")
def send_batch(self: BlazecastTask, batch_id: int) -> dict[str, Any]:
    result = self.runtime.sender.send(batch_id)
    return {"outcome": result.outcome, "sent": result.sent, "failed": result.failed}


@shared_task(bind=True, base=BlazecastTask, name="blazecast.tick")
def tick(self: BlazecastTask) -> None:
    """Every second: start due announcements, get planning going, top up the send queue."""
    runtime = self.runtime
    with runtime.db.session() as session:
        dispatcher.start_due(session)
        to_plan = dispatcher.needing_plan(session, plan_ahead=runtime.settings.plan_ahead)
        batch_ids = dispatcher.dispatch(session, high_water=runtime.settings.queue_high_water)
    for announcement_id in to_plan:
        # One plan task at a time per announcement; the planner's lease is the real guard.
        if runtime.redis.set(plan_enqueued_key(str(announcement_id)), 1, nx=True, ex=30):
            plan_announcement.delay(str(announcement_id))
    publish_batches(batch_ids)


def plan_enqueued_key(announcement_id: str) -> str:
    return f"blazecast:plan-enqueued:{announcement_id}"


@shared_task(bind=True, base=BlazecastTask, name="blazecast.plan_announcement")
def plan_announcement(self: BlazecastTask, announcement_id: str) -> int:
    """Plan page after page (each its own transaction) until the audience is exhausted or planning
    is ``plan_ahead`` messages ahead of sending; a later tick plans on as sending catches up."""
    try:
        return _plan(self.runtime, uuid.UUID(announcement_id), self.request)
    finally:
        # The next tick may enqueue planning again (once sending has caught up).
        self.runtime.redis.delete(plan_enqueued_key(announcement_id))


def _plan(runtime: Runtime, key: uuid.UUID, request: Any) -> int:
    planned, holder = 0, f"{request.hostname}:{request.id}"
    settings = runtime.settings
    while True:
        with runtime.db.session() as session:
            if not planner.claim_plan_lease(session, key, holder):
                return planned
            page = planner.plan_page(
                session, key, page_size=settings.plan_page_size, batch_size=settings.batch_size
            )
        planned += page.deliveries
        if planned == page.deliveries:  # first page: start sending without waiting for a tick
            with runtime.db.session() as session:
                batch_ids = dispatcher.dispatch(session, high_water=settings.queue_high_water)
            publish_batches(batch_ids)
        if page.finished:
            return planned
        with runtime.db.session() as session:
            if planner.far_enough_ahead(session, key, settings.plan_ahead):
                planner.release_plan_lease(session, key, holder)
                return planned


@shared_task(bind=True, base=BlazecastTask, name="blazecast.record_receipts")
def record_receipts(self: BlazecastTask, bot_id: str | None = None) -> dict[str, int]:
    """Apply the bot's receipts journal to Postgres (every bot's when ``bot_id`` is None: beat's
    safety net, which also claims what a killed recorder left pending)."""
    runtime = self.runtime
    bots = [bot_id] if bot_id else receipt_journal.journaled_bots(runtime.redis)
    totals: dict[str, int] = {"receipts": 0, "delivered": 0, "read": 0, "claimed": 0}
    for bot in bots:
        # Cleared first: receipts appended from now on get a task of their own.
        runtime.redis.delete(receipt_journal.record_enqueued_key(bot))
        done = receipt_journal.record(
            runtime.redis,
            runtime.db,
            receipt_journal.stream_key(bot),
            consumer=f"{self.request.hostname}:{os.getpid()}",
        )
        for name in totals:
            totals[name] += getattr(done, name)
    return totals


@shared_task(bind=True, base=BlazecastTask, name="blazecast.reap")
def reap(self: BlazecastTask) -> None:
    """Every few seconds: recover expired leases and lost messages; complete finished work."""
    runtime = self.runtime
    # An empty send queue with batches marked queued means their messages are gone (Redis lost
    # them): republish at once. Otherwise give queued messages a minute before assuming so.
    queue_empty = runtime.redis.llen(SEND_QUEUE) == 0
    wait = runtime.settings.requeue_after_seconds
    older_than = timedelta(seconds=min(5, wait) if queue_empty else wait)
    with runtime.db.session() as session:
        batch_ids = reaper.expired_leases(session)
        batch_ids += reaper.lost_messages(session, older_than=older_than)
        reaper.complete_finished(session)
        reaper.close_abandoned(session)
    if batch_ids:
        log.info("reaper re-published %d batches", len(batch_ids))
    publish_batches(batch_ids)
