"""The pipeline on one screen: every step of the data flow, top to bottom.

    tick (beat, every second)   start due announcements → plan those behind → dispatch batches
    plan (one task per page run) claim the plan lease → plan pages → dispatch the first batches
    send (one task per batch)    lease → tokens → provider → record          (``sender``)
    reap (beat, every 5 s)       expired leases and lost messages → republish; complete; close
    poll tick (beat, every 1 s)  pick the recipients to poll → make sent ones due → poll tasks
    poll (one task per bot)      claim due rows → walk conversations → receipts  (``polls``)

Each step is a function of the database, the ``Broker`` that publishes Celery messages and the
pipeline's settings; the Celery tasks (``worker.tasks``) are shells around them, and tests and
benches call these same functions. Rows are committed before any message that points at them is
published (STYLE 3).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

from worker.broadcast import dispatcher, planner, polls, reaper
from worker.broadcast.dispatcher import Pace
from worker.broadcast.sender import SHORT_WAIT_SECONDS, BatchResult, BatchSender
from worker.db import Database
from worker.messaging.provider import StatusPolling
from worker.ratelimit import TokenBuckets

# A lost send_batch message is presumed after this long when the send queue is empty (it
# cannot be waiting behind others), rather than ``requeue_after_seconds``.
EMPTY_QUEUE_REQUEUE_SECONDS = 5.0


class Broker(Protocol):
    """Where the pipeline publishes work (Celery over Redis in production)."""

    def publish_batches(self, batch_ids: Sequence[int]) -> None: ...

    def publish_batch_later(self, batch_id: int, seconds: float) -> None:
        """Publish with a countdown; only ever for waits under ``SHORT_WAIT_SECONDS``."""
        ...

    def publish_plan(self, announcement_id: uuid.UUID) -> None:
        """Publish a plan task unless one is already waiting for this announcement."""
        ...

    def send_queue_empty(self) -> bool: ...

    def publish_polls(self, bot_ids: Sequence[int]) -> None:
        """Publish a poll task per bot unless one is already waiting for it."""
        ...


@dataclass(frozen=True)
class PipelineConfig:
    pace: Pace
    plan_ahead: int = 50_000
    plan_page_size: int = 20_000
    requeue_after_seconds: float = 60.0

    @property
    def batch_size(self) -> int:
        return self.pace.batch_size


def tick(db: Database, broker: Broker, config: PipelineConfig) -> list[int]:
    """Start due announcements, get planning going, top up the send queue; the batch ids sent."""
    with db.session() as session:
        dispatcher.start_due(session)
        to_plan = dispatcher.needing_plan(session, plan_ahead=config.plan_ahead)
        batch_ids = dispatcher.dispatch(session, config.pace)
    for announcement_id in to_plan:
        broker.publish_plan(announcement_id)
    broker.publish_batches(batch_ids)
    return batch_ids


def plan(
    db: Database,
    broker: Broker,
    config: PipelineConfig,
    announcement_id: uuid.UUID,
    holder: str,
    *,
    start_sending: bool = True,
) -> int:
    """Plan page after page (each its own transaction) until the audience is exhausted or
    planning is ``plan_ahead`` messages ahead of sending; a later tick plans on as sending catches
    up. After the first page its batches are dispatched at once unless ``start_sending`` is false
    (a test or bench that dispatches by itself). Returns how many deliveries were planned."""
    planned = 0
    while True:
        with db.session() as session:
            if not planner.claim_plan_lease(session, announcement_id, holder):
                return planned
            page = planner.plan_page(
                session,
                announcement_id,
                page_size=config.plan_page_size,
                batch_size=config.batch_size,
            )
        planned += page.deliveries
        if start_sending and planned == page.deliveries:  # first page: no wait for a tick
            with db.session() as session:
                batch_ids = dispatcher.dispatch(session, config.pace)
            broker.publish_batches(batch_ids)
        if page.finished:
            return planned
        with db.session() as session:
            if planner.far_enough_ahead(session, announcement_id, config.plan_ahead):
                planner.release_plan_lease(session, announcement_id, holder)
                return planned


def send(sender: BatchSender, broker: Broker, batch_id: int) -> BatchResult:
    """Send one batch; a batch throttled for a moment is published again for that moment."""
    result = sender.send(batch_id)
    wait = result.retry_in
    if result.outcome == "throttled" and wait is not None and wait <= SHORT_WAIT_SECONDS:
        broker.publish_batch_later(batch_id, wait)
    return result


def reap(db: Database, broker: Broker, config: PipelineConfig) -> list[int]:
    """Recover expired leases and lost messages; complete finished announcements; close batches
    left open under cancelled ones. Returns the batch ids published again."""
    # An empty send queue with batches marked queued means their messages are gone (Redis lost
    # them): republish soon. Otherwise give queued messages a while before assuming so.
    wait = config.requeue_after_seconds
    if broker.send_queue_empty():
        wait = min(EMPTY_QUEUE_REQUEUE_SECONDS, wait)
    with db.session() as session:
        batch_ids = reaper.expired_leases(session)
        batch_ids += reaper.lost_messages(session, older_than=timedelta(seconds=wait))
        reaper.complete_finished(session)
        reaper.close_abandoned(session)
    broker.publish_batches(batch_ids)
    return batch_ids


def poll_tick(db: Database, broker: Broker, polling: Mapping[int, StatusPolling]) -> list[int]:
    """Plan and activate the status polls of the ``polling`` bots; publish a poll task for each
    bot with polls due. Returns those bots."""
    if not polling:
        return []
    with db.session() as session:
        bot_ids = polls.prepare(session, dict(polling))
    broker.publish_polls(bot_ids)
    return bot_ids


def poll(db: Database, bot: polls.BotPolling, buckets: TokenBuckets) -> polls.PollRun:
    """Poll a bounded number of the bot's due statuses within its polling share."""
    return polls.poll_bot(db, bot, buckets)


def run_until_idle(
    db: Database,
    broker: Broker,
    config: PipelineConfig,
    sender: BatchSender,
    *,
    rounds: int = 10_000,
) -> list[BatchResult]:
    """Drive the whole pipeline in this process until nothing is left to send (tests, benches).

    Planning and sending run inline instead of through Celery: ``broker`` only has to collect
    what would have been published (``InlineBroker``).
    """
    if not isinstance(broker, InlineBroker):
        raise TypeError("run_until_idle needs an InlineBroker")
    results: list[BatchResult] = []
    for _ in range(rounds):
        tick(db, broker, config)
        for announcement_id in broker.take_plans():
            plan(db, broker, config, announcement_id, "inline")
        batch_ids = broker.take_batches()
        if not batch_ids:
            return results
        results += [send(sender, broker, batch_id) for batch_id in batch_ids]
    return results


class InlineBroker:
    """A ``Broker`` that collects what would be published, for driving the pipeline in-process."""

    def __init__(self) -> None:
        self._batches: list[int] = []
        self._plans: list[uuid.UUID] = []
        self._polls: list[int] = []

    def publish_batches(self, batch_ids: Sequence[int]) -> None:
        self._batches.extend(batch_ids)

    def publish_batch_later(self, batch_id: int, seconds: float) -> None:
        time.sleep(seconds)  # in-process: the caller's next round finds the tokens
        self._batches.append(batch_id)

    def publish_plan(self, announcement_id: uuid.UUID) -> None:
        if announcement_id not in self._plans:
            self._plans.append(announcement_id)

    def send_queue_empty(self) -> bool:
        return not self._batches

    def publish_polls(self, bot_ids: Sequence[int]) -> None:
        self._polls.extend(b for b in bot_ids if b not in self._polls)

    def take_polls(self) -> list[int]:
        taken, self._polls = self._polls, []
        return taken

    def take_batches(self) -> list[int]:
        taken, self._batches = self._batches, []
        return taken

    def take_plans(self) -> list[uuid.UUID]:
        taken, self._plans = self._plans, []
        return taken
