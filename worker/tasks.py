"""Celery tasks: shells that call one step of ``worker.broadcast.pipeline`` (STYLE 2).

Arguments are primitive ids (readable in Flower). Infrastructure hiccups (Postgres or Redis
unreachable for a moment) retry the task shortly; everything else is decided by the pipeline,
whose own state in Postgres makes every task safe to run twice.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Sequence
from typing import Any

import redis
from celery import Task, shared_task
from sqlalchemy.exc import InterfaceError, OperationalError

from worker.broadcast import pipeline, receipt_journal
from worker.celery_app import runtime_of
from worker.queues import SEND_QUEUE
from worker.runtime import Runtime

log = logging.getLogger(__name__)

# Postgres or Redis unreachable for a moment. Not DataError or IntegrityError: the same input fails
# the same way again, so retrying it only holds up everything queued behind it.
INFRASTRUCTURE_ERRORS = (OperationalError, InterfaceError, redis.RedisError)
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
    batch_ids = pipeline.reap(runtime.db, CeleryBroker(runtime), runtime.pipeline_config)
    if batch_ids:
        log.info("reaper re-published %d batches", len(batch_ids))
