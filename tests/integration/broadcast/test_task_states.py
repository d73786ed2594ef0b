"""What Flower shows of ``send_batch``: tasks name their announcement by keyword, a batch retried
after a provider error is RETRY, one that gave up is FAILURE, and the result says what happened.

The task runs eagerly against the real database and Redis with a fake provider; the browser test
(tests/e2e/test_flower_browser.py) shows the same through a real worker and Flower.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis
from celery import Celery
from sqlalchemy import select

from models import Batch, BatchState
from tests.factories import add_announcement, add_recipients
from tests.integration.broadcast.pipeline import make_sender, start_and_plan
from worker import tasks
from worker.broadcast import dispatcher
from worker.celery_app import create_app
from worker.config import Settings
from worker.db import Database
from worker.messaging.errors import ServerError
from worker.messaging.fake import FakeTransport


@pytest.fixture
def fake() -> FakeTransport:
    return FakeTransport()


@pytest.fixture
def app(
    settings: Settings, clean_db: Database, redis_client: redis.Redis, fake: FakeTransport
) -> Iterator[Celery]:
    app = create_app(settings)
    runtime = app.blazecast_runtime
    runtime.__dict__.update(
        db=clean_db, sender=make_sender(clean_db, fake, redis_client, max_attempts=2)
    )
    yield app
    runtime.__dict__.clear()


def _queued_batch(database: Database) -> tuple[int, str]:
    with database.session() as session:
        add_recipients(session, 10)
        announcement = add_announcement(session)
    start_and_plan(database, announcement.id)
    with database.session() as session:
        (batch_id,) = dispatcher.dispatch(session, high_water=10)
    return batch_id, str(announcement.id)


def _requeue(database: Database, batch_id: int) -> None:
    with database.session() as session:
        batch = session.execute(select(Batch).where(Batch.id == batch_id)).scalar_one()
        batch.state = BatchState.QUEUED


def test_published_batches_name_their_announcement(app: Celery, clean_db: Database) -> None:
    batch_id, announcement_id = _queued_batch(clean_db)
    with clean_db.session() as session:
        owners = dispatcher.announcements_of(session, [batch_id])
    assert tasks.send_batch_kwargs(batch_id, owners[batch_id]) == {
        "batch_id": batch_id,
        "announcement_id": announcement_id,
    }


def test_retried_then_failed_batches_show_as_retry_and_failure(
    app: Celery, clean_db: Database, fake: FakeTransport
) -> None:
    batch_id, announcement_id = _queued_batch(clean_db)
    kwargs = {"batch_id": batch_id, "announcement_id": announcement_id}
    fake.fail_next(ServerError("Internal Server Error.", code=500), times=2)

    retried = tasks.send_batch.apply(kwargs=kwargs)
    assert retried.state == "RETRY"
    assert f"batch {batch_id} of announcement {announcement_id}" in str(retried.result)
    assert "retry: Mixin error 500: Internal Server Error." in str(retried.result)

    _requeue(clean_db, batch_id)
    gave_up = tasks.send_batch.apply(kwargs=kwargs)
    assert gave_up.state == "FAILURE"
    assert "failed: gave up after 2 attempts" in str(gave_up.result)
    assert "failed 10" in str(gave_up.result)


def test_a_sent_batch_says_how_many_went_out(app: Celery, clean_db: Database) -> None:
    batch_id, announcement_id = _queued_batch(clean_db)
    done = tasks.send_batch.apply(kwargs={"batch_id": batch_id, "announcement_id": announcement_id})
    assert done.state == "SUCCESS"
    assert done.result == {
        "outcome": "done",
        "batch_id": batch_id,
        "announcement_id": announcement_id,
        "sent": 10,
        "failed": 0,
    }
