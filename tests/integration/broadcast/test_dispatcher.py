"""Dispatching: a bounded send queue, fed in priority order; auto-pause on too many failures."""

from __future__ import annotations

import redis
from sqlalchemy import func, select

from models import Announcement, AnnouncementStatus, Batch, BatchState, Delivery
from tests.factories import add_announcement, add_recipients
from tests.integration.broadcast.pipeline import drive, make_sender, pace, start_and_plan
from worker.broadcast import dispatcher
from worker.db import Database
from worker.messaging.errors import InvalidData
from worker.messaging.fake import FakeTransport


def test_queue_is_bounded_and_a_higher_priority_overtakes(clean_db: Database) -> None:
    with clean_db.session() as session:
        add_recipients(session, 1_000)
        low = add_announcement(session, "weekly digest", priority=0)
    start_and_plan(clean_db, low.id)
    with clean_db.session() as session:
        first = dispatcher.dispatch(session, pace(4))
        assert len(first) == 4
        assert dispatcher.dispatch(session, pace(4)) == []  # full: nothing more is queued
        urgent = add_announcement(session, "outage right now", priority=50)
    start_and_plan(clean_db, urgent.id)
    with clean_db.session() as session:
        # Two queued batches were taken by workers; the freed room goes to the urgent one first.
        session.execute(
            Batch.__table__.update().where(Batch.id.in_(first[:2])).values(state=BatchState.DONE)
        )
        refill = dispatcher.dispatch(session, pace(4))
        owners = {
            session.get(Batch, batch_id).announcement_id  # type: ignore[union-attr]
            for batch_id in refill
        }
    assert owners == {urgent.id}


def test_error_threshold_auto_pauses_with_the_reason(
    clean_db: Database, redis_client: redis.Redis
) -> None:
    with clean_db.session() as session:
        add_recipients(session, 600)
        announcement = add_announcement(session)
    start_and_plan(clean_db, announcement.id)
    with clean_db.session() as session:
        bad = (
            session.execute(select(Delivery.message_id).order_by(Delivery.id).limit(150))
            .scalars()
            .all()
        )
    fake = FakeTransport()
    for message_id in bad:
        fake.fail_for(
            str(message_id), InvalidData("The request data has invalid field", code=10002)
        )
    drive(clean_db, make_sender(clean_db, fake, redis_client, error_threshold_min=100))
    with clean_db.session() as session:
        paused = session.get(Announcement, announcement.id)
        assert paused is not None
        open_batches = session.execute(
            select(func.count()).where(Batch.state == BatchState.PENDING)
        ).scalar_one()
    assert paused.status is AnnouncementStatus.PAUSED
    assert paused.status_reason is not None and paused.status_reason.startswith("auto-paused")
    assert paused.failed >= 100 and open_batches > 0  # it stopped before sending everything
