"""Celery tasks: shells that call one step of ``worker.broadcast.pipeline`` (STYLE 2).

Arguments are primitive ids, passed by keyword so that Flower names them (``task_views``).
Infrastructure hiccups (Postgres or Redis unreachable for a moment) retry the task shortly;
everything else is decided by the pipeline, whose own state in Postgres makes every task safe to
run twice.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import uuid
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import redis
from celery import Task, shared_task
from celery.exceptions import Retry
from sqlalchemy.exc import InterfaceError, OperationalError

from worker import history
from worker.broadcast import dispatcher, pipeline, receipt_journal
from worker.celery_app import runtime_of
from worker.liveness import safe_record_tick
from worker.metrics import count_outcome
from worker.queues import SEND_QUEUE
from worker.runtime import Runtime
from worker.task_views import BatchGaveUp, BatchRetried, batch_summary, describe, send_batch_kwargs

log = logging.getLogger(__name__)

# Postgres or Redis unreachable for a moment. Not DataError or IntegrityError: the same input fails
# the same way again, so retrying it only holds up everything queued behind it.
INFRASTRUCTURE_ERRORS = (OperationalError, InterfaceError, redis.RedisError)
PLAN_ENQUEUED_SECONDS = 30
POLL_ENQUEUED_SECONDS = 30


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

    def __init__(
        self, runtime: Runtime, known: dict[int, tuple[str | None, int | None]] | None = None
    ) -> None:
        self.runtime = runtime
        # Batches whose announcement and bot are known already (the task's own): not looked up.
        self.known = {b: owner for b, owner in (known or {}).items() if None not in owner}

    def kwargs_for(self, batch_ids: Sequence[int]) -> list[dict[str, Any]]:
        """``send_batch`` keyword arguments naming each batch's announcement and bot (one query
        for the batches not known yet)."""
        unknown = [b for b in batch_ids if b not in self.known]
        if unknown:
            with self.runtime.db.session() as session:
                for batch_id, (announcement, bot) in dispatcher.owners_of(session, unknown).items():
                    self.known[batch_id] = (str(announcement), bot)
        return [send_batch_kwargs(b, *self.known.get(b, (None, None))) for b in batch_ids]

    def publish_batches(self, batch_ids: Sequence[int]) -> None:
        for kwargs in self.kwargs_for(batch_ids):
            send_batch.apply_async(kwargs=kwargs, queue=SEND_QUEUE)

    def publish_batch_later(self, batch_id: int, seconds: float) -> None:
        (kwargs,) = self.kwargs_for([batch_id])
        send_batch.apply_async(kwargs=kwargs, queue=SEND_QUEUE, countdown=seconds)

    def publish_plan(self, announcement_id: uuid.UUID) -> None:
        # One plan task waiting per announcement; the planner's lease is the real guard.
        key = plan_enqueued_key(str(announcement_id))
        if self.runtime.redis.set(key, 1, nx=True, ex=PLAN_ENQUEUED_SECONDS):
            plan_announcement.delay(announcement_id=str(announcement_id))

    def send_queue_empty(self) -> bool:
        return int(self.runtime.redis.llen(SEND_QUEUE)) == 0

    def publish_polls(self, bot_ids: Sequence[int]) -> None:
        # One poll task waiting or running per bot; the rows' leases are the real guard.
        for bot_id in bot_ids:
            if self.runtime.redis.set(
                poll_enqueued_key(bot_id), 1, nx=True, ex=POLL_ENQUEUED_SECONDS
            ):
                poll_statuses.delay(bot_id=bot_id)


def plan_enqueued_key(announcement_id: str) -> str:
    return f"blazecast:plan-enqueued:{announcement_id}"


def poll_enqueued_key(bot_id: int) -> str:
    return f"blazecast:poll-enqueued:{bot_id}"


@shared_task(bind=True, base=BlazecastTask, name="blazecast.send_batch", throws=(BatchGaveUp,))
def send_batch(
    self: BlazecastTask,
    batch_id: int,
    announcement_id: str | None = None,
    bot_id: int | None = None,
) -> dict[str, Any]:
    """Send one batch. In Flower: RETRY after a provider error (the dispatcher re-sends the batch
    from Postgres when due, never a Celery countdown: DESIGN 10), FAILURE once it gave up,
    otherwise SUCCESS with what happened (done, throttled, released). A batch whose recipients'
    fate became unknown (past the provider's retry horizon) is a FAILURE too."""
    runtime = self.runtime
    broker = CeleryBroker(runtime, {batch_id: (announcement_id, bot_id)})
    result = pipeline.send(runtime.sender, broker, batch_id)
    count_outcome(runtime.redis, result.outcome)
    summary = batch_summary(batch_id, result)
    if result.outcome == "retry":
        # Raised, not self.retry(): marks the task retried without publishing it again.
        raise Retry(exc=BatchRetried(describe(summary)), when=result.retry_in)
    if result.outcome in ("failed", "unknown"):
        raise BatchGaveUp(describe(summary))
    return summary


@shared_task(bind=True, base=BlazecastTask, name="blazecast.tick")
def tick(self: BlazecastTask) -> None:
    """Every second: start due announcements, get planning going, top up the send queue."""
    runtime = self.runtime
    safe_record_tick(runtime.redis)
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


@shared_task(bind=True, base=BlazecastTask, name="blazecast.poll_tick")
def poll_tick(self: BlazecastTask) -> list[int]:
    """Every second: pick the recipients whose statuses are polled (IM REST), make the sent ones
    due, and ask for a poll of every bot with polls due."""
    runtime = self.runtime
    polling = {
        bot_id: bot.provider.status_polling
        for bot_id, bot in runtime.polling_bots().items()
        if bot.provider.status_polling is not None
    }
    return pipeline.poll_tick(runtime.db, CeleryBroker(runtime), polling)


@shared_task(bind=True, base=BlazecastTask, name="blazecast.poll_statuses")
def poll_statuses(self: BlazecastTask, bot_id: int) -> dict[str, Any]:
    """Poll a bounded number of the bot's due statuses within its polling share of the budget
    (it never waits for tokens: the next tick asks again)."""
    runtime = self.runtime
    try:
        run = pipeline.poll(runtime.db, runtime.bot(bot_id), runtime.buckets)
    finally:
        runtime.redis.delete(poll_enqueued_key(bot_id))
    return dataclasses.asdict(run)


@shared_task(bind=True, base=BlazecastTask, name="blazecast.archive_history")
def archive_history(self: BlazecastTask) -> int:
    """Hourly when BLAZECAST_HISTORY_ARCHIVE_AFTER_DAYS is set: archive what is old enough."""
    settings = self.runtime.settings
    if not settings.history_archive_after_days:
        return 0
    out_dir = settings.history_archive_dir or settings.home / "archive"
    age = timedelta(days=settings.history_archive_after_days)
    done = list(history.archive_due(self.runtime.db, age, out_dir))
    if done:
        log.info("archived %d announcements to %s", len(done), out_dir)
    return len(done)
