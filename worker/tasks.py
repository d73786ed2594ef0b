"""Celery tasks: thin shells that open a session and call one function in ``worker.broadcast``.

Arguments are primitive ids, passed by keyword so that Flower names them (``task_views``). Rows are committed before any message that
points at them is published (publish after commit). Infrastructure hiccups (Postgres or Redis
unreachable for a moment) retry the task shortly; everything else is decided by the broadcast
layer, whose own state in Postgres makes every task safe to run twice.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

import redis
from celery import Task, shared_task
from celery.exceptions import Retry
from sqlalchemy.exc import DBAPIError

from worker.broadcast import dispatcher, planner, reaper, receipts
from worker.celery_app import runtime_of
from worker.liveness import safe_record_tick
from worker.metrics import count_outcome
from worker.queues import SEND_QUEUE
from worker.runtime import Runtime
from worker.task_views import BatchGaveUp, BatchRetried, batch_summary, describe, send_batch_kwargs

log = logging.getLogger(__name__)

INFRASTRUCTURE_ERRORS = (DBAPIError, redis.RedisError)


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


def publish_batches(runtime: Runtime, batch_ids: Iterable[int]) -> None:
    batch_ids = list(batch_ids)
    if not batch_ids:
        return
    with runtime.db.session() as session:
        owners = dispatcher.announcements_of(session, batch_ids)
    for batch_id in batch_ids:
        kwargs = send_batch_kwargs(batch_id, owners.get(batch_id))
        send_batch.apply_async(kwargs=kwargs, queue=SEND_QUEUE)


@shared_task(bind=True, base=BlazecastTask, name="blazecast.send_batch", throws=(BatchGaveUp,))
def send_batch(
    self: BlazecastTask, batch_id: int, announcement_id: str | None = None
) -> dict[str, Any]:
    """Send one batch. In Flower: RETRY after a provider error (the dispatcher re-sends the batch
    from Postgres when due, never a Celery countdown: DESIGN 10), FAILURE once it gave up,
    otherwise SUCCESS with what happened (sent, throttled, released)."""
    result = self.runtime.sender.send(batch_id)
    count_outcome(self.runtime.redis, result.outcome)
    summary = batch_summary(batch_id, result)
    if result.outcome == "retry":
        # Raised, not self.retry(): marks the task retried without publishing it again.
        raise Retry(exc=BatchRetried(describe(summary)), when=result.retry_in)
    if result.outcome == "failed":
        raise BatchGaveUp(describe(summary))
    return summary


@shared_task(bind=True, base=BlazecastTask, name="blazecast.tick")
def tick(self: BlazecastTask) -> None:
    """Every second: start due announcements, get planning going, top up the send queue."""
    runtime = self.runtime
    safe_record_tick(runtime.redis)
    with runtime.db.session() as session:
        dispatcher.start_due(session)
        to_plan = dispatcher.needing_plan(session, plan_ahead=runtime.settings.plan_ahead)
        batch_ids = dispatcher.dispatch(session, high_water=runtime.settings.queue_high_water)
    for announcement_id in to_plan:
        # One plan task at a time per announcement; the planner's lease is the real guard.
        if runtime.redis.set(plan_enqueued_key(str(announcement_id)), 1, nx=True, ex=30):
            plan_announcement.delay(announcement_id=str(announcement_id))
    publish_batches(runtime, batch_ids)


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
            publish_batches(runtime, batch_ids)
        if page.finished:
            return planned
        with runtime.db.session() as session:
            if planner.far_enough_ahead(session, key, settings.plan_ahead):
                planner.release_plan_lease(session, key, holder)
                return planned


@shared_task(bind=True, base=BlazecastTask, name="blazecast.record_receipts")
def record_receipts(self: BlazecastTask, items: list[list[str]]) -> dict[str, int]:
    """Apply a buffer of ``[message_id, status, updated_at ISO]`` receipts from the listener."""
    parsed = [(m, s, datetime.fromisoformat(at)) for m, s, at in items]
    with self.runtime.db.session() as session:
        applied = receipts.apply_receipts(session, parsed)
    return {"delivered": applied.newly_delivered, "read": applied.newly_read}


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
    publish_batches(runtime, batch_ids)
