"""What Flower shows of ``send_batch``: tasks name their announcement by keyword, a batch retried
after a provider error is RETRY, one that gave up is FAILURE, and the result says what happened.

The task runs eagerly against the real database and Redis with a fake provider; the browser test
(tests/e2e/test_flower_browser.py) shows the same through a real worker and Flower.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from celery import Celery
from celery.result import EagerResult
from sqlalchemy import select

from models import Batch, BatchState
from tests import factories
from tests.factories import add_announcement, add_recipients
from tests.integration.broadcast.pipeline import make_sender, pace, start_and_plan
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
        (batch_id,) = dispatcher.dispatch(session, pace(10))
    return batch_id, str(announcement.id)


def _requeue(database: Database, batch_id: int) -> None:
    with database.session() as session:
        batch = session.execute(select(Batch).where(Batch.id == batch_id)).scalar_one()
        batch.state = BatchState.QUEUED


def _send(database: Database, kwargs: dict[str, Any]) -> EagerResult:
    """Run the task; a batch throttled by the (fresh, empty) bucket goes again once it refilled."""
    for _ in range(50):
        result = tasks.send_batch.apply(kwargs=kwargs)
        if result.state != "SUCCESS" or result.result["outcome"] != "throttled":
            return result
        time.sleep(result.result["next_attempt_in_seconds"] + 0.01)
        _requeue(database, kwargs["batch_id"])
    raise AssertionError("still throttled")


def test_published_batches_name_their_announcement_and_bot(app: Celery, clean_db: Database) -> None:
    batch_id, announcement_id = _queued_batch(clean_db)
    broker = tasks.CeleryBroker(app.blazecast_runtime)
    with clean_db.session() as session:
        bot_id = factories.default_bot_id(session)
    assert broker.kwargs_for([batch_id]) == [
        {"batch_id": batch_id, "announcement_id": announcement_id, "bot_id": bot_id}
    ]


def test_retried_then_failed_batches_show_as_retry_and_failure(
    app: Celery, clean_db: Database, fake: FakeTransport
) -> None:
    batch_id, announcement_id = _queued_batch(clean_db)
    kwargs = {"batch_id": batch_id, "announcement_id": announcement_id}
    fake.fail_next(ServerError("Internal Server Error.", code=500), times=2)

    retried = _send(clean_db, kwargs)
    assert retried.state == "RETRY"
    assert f"batch {batch_id} of announcement {announcement_id}" in str(retried.result)
    assert "retry: Mixin error 500: Internal Server Error." in str(retried.result)

    _requeue(clean_db, batch_id)
    gave_up = _send(clean_db, kwargs)
    assert gave_up.state == "FAILURE"
    assert "failed: gave up: Mixin error 500: Internal Server Error." in str(gave_up.result)
    assert "failed 10" in str(gave_up.result)


def test_a_sent_batch_says_how_many_went_out(app: Celery, clean_db: Database) -> None:
    batch_id, announcement_id = _queued_batch(clean_db)
    done = _send(clean_db, {"batch_id": batch_id, "announcement_id": announcement_id})
    assert done.state == "SUCCESS"
    with clean_db.session() as session:
        bot_id = factories.default_bot_id(session)
    assert done.result == {
        "outcome": "done",
        "batch_id": batch_id,
        "announcement_id": announcement_id,
        "bot_id": bot_id,
        "sent": 10,
        "failed": 0,
    }
