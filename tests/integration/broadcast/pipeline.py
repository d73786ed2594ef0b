"""Helpers that drive the pipeline in-process (dispatcher, planner, sender) for integration tests."""

from __future__ import annotations

import uuid

import redis
from sqlalchemy import func, update

from models import Batch, BatchState
from worker.broadcast import dispatcher, planner
from worker.broadcast.retry import RetryPolicy
from worker.broadcast.sender import BatchResult, BatchSender, SenderConfig
from worker.db import Database
from worker.messaging.transport import Transport
from worker.ratelimit import TokenBuckets, quota_spec

BOT_ID = "8a7e1f2c-0d3b-4c5a-9e6f-1a2b3c4d5e6f"


def make_sender(
    database: Database,
    transport: Transport,
    redis_client: redis.Redis,
    *,
    quota_per_minute: int = 1_000_000,
    max_attempts: int = 3,
    error_threshold_min: int = 1_000,
) -> BatchSender:
    return BatchSender(
        database,
        transport,
        TokenBuckets(redis_client),
        SenderConfig(
            bot_id=BOT_ID,
            quota=quota_spec(BOT_ID, quota_per_minute),
            retry=RetryPolicy(max_attempts=max_attempts, base_seconds=0.01, max_seconds=0.05),
            worker_name="test",
            error_threshold_min=error_threshold_min,
        ),
    )


def start_and_plan(database: Database, announcement_id: uuid.UUID) -> None:
    with database.session() as session:
        dispatcher.start_due(session)
    while True:
        with database.session() as session:
            assert planner.claim_plan_lease(session, announcement_id, "test")
            if planner.plan_page(session, announcement_id, page_size=5000, batch_size=100).finished:
                return


def drive(database: Database, sender: BatchSender, *, rounds: int = 50) -> list[BatchResult]:
    """Dispatch and send until nothing is left to dispatch; retries are made due at once."""
    results: list[BatchResult] = []
    for _ in range(rounds):
        with database.session() as session:
            session.execute(
                update(Batch)
                .where(Batch.state == BatchState.RETRY)
                .values(next_attempt_at=func.now())
            )
            ids = dispatcher.dispatch(session, high_water=1000)
        if not ids:
            return results
        results += [sender.send(batch_id) for batch_id in ids]
    return results
