"""Celery tasks: shells that call one step of ``worker.broadcast.pipeline`` (STYLE 2).

Arguments are primitive ids (readable in Flower). Infrastructure hiccups (Postgres or Redis
unreachable for a moment) retry the task shortly; everything else is decided by the pipeline,
whose own state in Postgres makes every task safe to run twice.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import redis
from celery import Task, shared_task
from sqlalchemy.exc import DBAPIError

from worker.broadcast import pipeline, receipts
from worker.celery_app import runtime_of
from worker.queues import SEND_QUEUE
from worker.runtime import Runtime

log = logging.getLogger(__name__)

INFRASTRUCTURE_ERRORS = (DBAPIError, redis.RedisError)
PLAN_ENQUEUED_SECONDS = 30


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


class CeleryBroker:
    """The pipeline's ``Broker``: Celery messages over the runtime's Redis."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def publish_batches(self, batch_ids: Sequence[int]) -> None:
        for batch_id in batch_ids:
            send_batch.apply_async((batch_id,), queue=SEND_QUEUE)

    def publish_batch_later(self, batch_id: int, seconds: float) -> None:
        send_batch.apply_async((batch_id,), queue=SEND_QUEUE, countdown=seconds)

    def publish_plan(self, announcement_id: uuid.UUID) -> None:
        # One plan task waiting per announcement; the planner's lease is the real guard.
        key = plan_enqueued_key(str(announcement_id))
        if self.runtime.redis.set(key, 1, nx=True, ex=PLAN_ENQUEUED_SECONDS):
            plan_announcement.delay(str(announcement_id))

    def send_queue_empty(self) -> bool:
        return int(self.runtime.redis.llen(SEND_QUEUE)) == 0


def plan_enqueued_key(announcement_id: str) -> str:
    return f"blazecast:plan-enqueued:{announcement_id}"


@shared_task(bind=True, base=BlazecastTask, name="blazecast.send_batch")
def send_batch(self: BlazecastTask, batch_id: int) -> dict[str, Any]:
    runtime = self.runtime
    result = pipeline.send(runtime.sender, CeleryBroker(runtime), batch_id)
    return {"outcome": result.outcome, "sent": result.sent, "failed": result.failed}


@shared_task(bind=True, base=BlazecastTask, name="blazecast.tick")
def tick(self: BlazecastTask) -> None:
    """Every second: start due announcements, get planning going, top up the send queue."""
    runtime = self.runtime
    pipeline.tick(runtime.db, CeleryBroker(runtime), runtime.pipeline_config)


@shared_task(bind=True, base=BlazecastTask, name="blazecast.plan_announcement")
def plan_announcement(self: BlazecastTask, announcement_id: str) -> int:
    runtime = self.runtime
    holder = f"{self.request.hostname}:{self.request.id}"
    try:
        return pipeline.plan(
            runtime.db,
            CeleryBroker(runtime),
            runtime.pipeline_config,
            uuid.UUID(announcement_id),
            holder,
        )
    finally:
        # The next tick may enqueue planning again (once sending has caught up).
        runtime.redis.delete(plan_enqueued_key(announcement_id))


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
    batch_ids = pipeline.reap(runtime.db, CeleryBroker(runtime), runtime.pipeline_config)
    if batch_ids:
        log.info("reaper re-published %d batches", len(batch_ids))
