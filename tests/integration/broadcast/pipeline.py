"""Helpers that drive the pipeline in-process (dispatcher, planner, sender) for integration tests."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

import redis
from sqlalchemy import func, select, update

from models import Announcement, Batch, BatchState
from tests import factories
from worker.broadcast import dispatcher, pipeline
from worker.broadcast.dispatcher import Pace
from worker.broadcast.pipeline import InlineBroker, PipelineConfig
from worker.broadcast.retry import RetryPolicy
from worker.broadcast.sender import BatchResult, BatchSender, SenderConfig
from worker.db import Database
from worker.messaging.provider import Provider
from worker.messaging.transport import Transport
from worker.ratelimit import BucketSpec, TokenBuckets, quota_spec

BOT_ID = factories.BOT_USER_ID


def pace(high_water: int) -> Pace:
    """At most ``high_water`` batches in flight, and no other bound: these tests are about what
    is sent, not how fast."""
    return Pace(high_water=high_water, default_quota=100_000_000)


@dataclass
class TestBot:
    """One bot's sending parts, as ``worker.runtime.BotRuntime`` gives them, around a transport."""

    id: int
    provider: Provider
    quota: BucketSpec
    transport: Transport


def make_sender(
    database: Database,
    transport: Transport,
    redis_client: redis.Redis,
    *,
    quota_per_minute: int = 1_000_000,
    max_attempts: int = 3,
    error_threshold_min: int = 1_000,
) -> BatchSender:
    """A sender whose every bot is the tests' default bot, sending through ``transport``."""
    with database.session() as session:
        bot_id = factories.default_bot_id(session)
    bot = TestBot(bot_id, factories.provider(), quota_spec(BOT_ID, quota_per_minute), transport)
    return BatchSender(
        database,
        lambda _: bot,
        TokenBuckets(redis_client),
        SenderConfig(
            retry=RetryPolicy(max_attempts=max_attempts, base_seconds=0.01, max_seconds=0.05),
            worker_name="test",
            error_threshold_min=error_threshold_min,
        ),
    )


def start_and_plan(database: Database, announcement_id: uuid.UUID) -> None:
    """Start the due announcement and plan all of it, dispatching nothing."""
    with database.session() as session:
        dispatcher.start_due(session)
    config = PipelineConfig(pace=pace(1000), plan_ahead=0, plan_page_size=5_000)
    pipeline.plan(database, InlineBroker(), config, announcement_id, "test", start_sending=False)
    with database.session() as session:
        planned = session.execute(
            select(Announcement.planned).where(Announcement.id == announcement_id)
        ).scalar_one()
    assert planned, "planning stopped before the audience was exhausted"


def drive(database: Database, sender: BatchSender, *, rounds: int = 50) -> list[BatchResult]:
    """Dispatch and send until nothing is left to dispatch; retries are made due at once, and a
    throttled batch is sent again when its tokens are due."""
    results: list[BatchResult] = []
    for _ in range(rounds):
        with database.session() as session:
            session.execute(
                update(Batch)
                .where(Batch.state == BatchState.RETRY)
                .values(next_attempt_at=func.now())
            )
            ids = dispatcher.dispatch(session, pace(1000))
        if not ids:
            return results
        results += [send(sender, batch_id) for batch_id in ids]
    return results


def send(sender: BatchSender, batch_id: int) -> BatchResult:
    """``sender.send``, and again once its tokens are due while it is throttled (as the task
    does, with a countdown): a fresh bucket starts empty, so the first batches wait a moment."""
    result = sender.send(batch_id)
    while result.outcome == "throttled":
        time.sleep(result.retry_in or 0)
        result = sender.send(batch_id)
    return result
