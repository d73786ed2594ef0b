"""Receipts: applied in bulk, forward only, duplicates and disorder harmless, counters exact."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import redis
from sqlalchemy import func, select, update

from models import Announcement, AnnouncementStatus, Delivery, DeliveryState
from tests.factories import add_announcement, add_recipients
from tests.integration.broadcast.pipeline import drive, make_sender, start_and_plan
from worker.broadcast import state
from worker.broadcast.receipts import apply_receipts
from worker.db import Database
from worker.messaging.fake import FakeTransport

T0 = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)


def _sent_announcement(database: Database, redis_client: redis.Redis, n: int) -> list[str]:
    with database.session() as session:
        add_recipients(session, n)
        announcement = add_announcement(session)
    start_and_plan(database, announcement.id)
    drive(database, make_sender(database, FakeTransport(), redis_client))
    with database.session() as session:
        return [str(m) for m in session.execute(select(Delivery.message_id)).scalars()]


def test_receipts_move_forward_only(clean_db: Database, redis_client: redis.Redis) -> None:
    ids = _sent_announcement(clean_db, redis_client, 4)
    a, b, c, d = ids
    with clean_db.session() as session:
        first = apply_receipts(
            session,
            [
                (a, "DELIVERED", T0),
                (b, "READ", T0 + timedelta(seconds=2)),  # READ before DELIVERED
                (b, "DELIVERED", T0 + timedelta(seconds=1)),
                (c, "DELIVERED", T0),
                (c, "DELIVERED", T0),  # duplicate in the same buffer
                ("00000000-0000-4000-8000-000000000000", "READ", T0),  # unknown: ignored
            ],
        )
    assert (first.newly_delivered, first.newly_read) == (3, 1)
    with clean_db.session() as session:
        again = apply_receipts(session, [(a, "DELIVERED", T0), (b, "DELIVERED", T0)])
        late = apply_receipts(session, [(a, "READ", T0 + timedelta(seconds=9))])
    assert (again.newly_delivered, again.newly_read) == (0, 0)
    assert (late.newly_delivered, late.newly_read) == (0, 1)
    with clean_db.session() as session:
        rows = {str(r.message_id): r for r in session.execute(select(Delivery)).scalars()}
        announcement = session.execute(select(Announcement)).scalar_one()
    assert rows[a].state is DeliveryState.READ and rows[a].read_at == T0 + timedelta(seconds=9)
    assert rows[b].state is DeliveryState.READ
    assert rows[b].delivered_at == T0 + timedelta(seconds=1)
    assert rows[c].state is DeliveryState.DELIVERED
    assert rows[d].state is DeliveryState.SENT
    assert (announcement.delivered, announcement.read) == (3, 2)


def test_incremental_counters_equal_the_recount(
    clean_db: Database, redis_client: redis.Redis
) -> None:
    ids = _sent_announcement(clean_db, redis_client, 300)
    buffers = [
        [(m, "DELIVERED", T0) for m in ids[:200]],
        [(m, "READ", T0) for m in ids[100:250]],
        [(m, "DELIVERED", T0) for m in ids[150:300]],
    ]
    for buffer in buffers:
        with clean_db.session() as session:
            apply_receipts(session, buffer)
    with clean_db.session() as session:
        announcement = session.execute(select(Announcement)).scalar_one()
        incremental = (announcement.delivered, announcement.read)
        state.recount(session, announcement.id)
    with clean_db.session() as session:
        recounted = session.execute(select(Announcement.delivered, Announcement.read)).one()
    assert incremental == tuple(recounted) == (300, 150)


def test_a_recount_never_overwrites_receipts_being_applied(
    clean_db: Database, redis_client: redis.Redis
) -> None:
    import threading
    import time

    from sqlalchemy.orm import Session

    ids = _sent_announcement(clean_db, redis_client, 100)
    with clean_db.session() as session:
        announcement_id = session.execute(select(Announcement.id)).scalar_one()
    # A receipts transaction has applied its buffer but not committed yet...
    receipts_session = Session(clean_db.engine)
    apply_receipts(receipts_session, [(m, "DELIVERED", T0) for m in ids])
    # ...when the completion recount runs in another transaction.
    recount_done = threading.Event()

    def recount() -> None:
        with clean_db.session() as session:
            state.recount(session, announcement_id)
        recount_done.set()

    worker = threading.Thread(target=recount)
    worker.start()
    time.sleep(0.5)
    receipts_session.commit()
    receipts_session.close()
    worker.join(10)
    assert recount_done.is_set()
    with clean_db.session() as session:
        delivered = session.execute(select(Announcement.delivered)).scalar_one()
    assert delivered == 100


def test_receipts_find_old_and_current_announcements_in_one_buffer(
    clean_db: Database, redis_client: redis.Redis
) -> None:
    old_ids = _sent_announcement(clean_db, redis_client, 3)
    with clean_db.session() as session:
        # The first announcement finished long ago: its partition is searched only second.
        session.execute(
            update(Announcement).values(
                status=AnnouncementStatus.COMPLETED, completed_at=func.now() - timedelta(days=30)
            )
        )
    # Three more recipients: the new announcement goes to all six.
    new_ids = [m for m in _sent_announcement(clean_db, redis_client, 3) if m not in old_ids][:3]
    with clean_db.session() as session:
        applied = apply_receipts(
            session,
            [(old_ids[0].upper(), "READ", T0), (new_ids[0], "DELIVERED", T0)]
            + [(m, "READ", T0) for m in new_ids[1:]],
        )
    assert (applied.newly_delivered, applied.newly_read) == (4, 3)
    with clean_db.session() as session:
        reads = session.execute(select(Announcement.read).order_by(Announcement.completed_at)).all()
        states = dict(session.execute(select(Delivery.message_id, Delivery.state)).all())
    assert [r for (r,) in reads] == [1, 2]  # the old one first
    assert states[uuid.UUID(old_ids[0])] is DeliveryState.READ
    assert states[uuid.UUID(new_ids[0])] is DeliveryState.DELIVERED


def test_a_receipt_with_a_comma_in_a_field_is_dropped_and_the_others_applied(
    clean_db: Database, redis_client: redis.Redis
) -> None:
    a, b = _sent_announcement(clean_db, redis_client, 2)
    with clean_db.session() as session:
        applied = apply_receipts(
            session,
            [
                (f"{a},{b}", "READ", T0),  # would shift every list against the others
                (a, "DELIVERED", T0),
                (b, "READ", T0 + timedelta(seconds=1)),
            ],
        )
    assert (applied.newly_delivered, applied.newly_read) == (2, 1)
    with clean_db.session() as session:
        states = {
            str(m): s for m, s in session.execute(select(Delivery.message_id, Delivery.state))
        }
    assert states == {a: DeliveryState.DELIVERED, b: DeliveryState.READ}
