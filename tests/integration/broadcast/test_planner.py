"""Planning in SQL: deliveries and batches of <= 100, deterministic message ids, resumable pages."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import TextClause

from models import Announcement, AnnouncementStatus, Batch, Delivery, DeliveryState, RecipientStatus
from tests.factories import add_announcement, add_recipients
from worker.broadcast import dispatcher, partitions, planner
from worker.broadcast.receipts import APPLY_RECEIPTS, apply_parameters
from worker.broadcast.service import Audience
from worker.messaging.mixin.ids import message_id_for


def _start(session: Session, announcement: Announcement) -> None:
    assert dispatcher.start_due(session) == [announcement.id]
    session.refresh(announcement)
    assert announcement.status is AnnouncementStatus.SENDING


def _plan_all(session: Session, announcement_id: uuid.UUID, page_size: int) -> int:
    pages = 0
    while True:
        assert planner.claim_plan_lease(session, announcement_id, "test")
        pages += 1
        if planner.plan_page(
            session, announcement_id, page_size=page_size, batch_size=100
        ).finished:
            return pages


def test_sql_message_ids_equal_the_python_derivation(db_session: Session) -> None:
    users = add_recipients(db_session, 50)
    announcement = add_announcement(db_session)
    _start(db_session, announcement)
    _plan_all(db_session, announcement.id, page_size=1000)
    rows = db_session.execute(
        select(Delivery.message_id, Delivery.recipient_id).where(
            Delivery.announcement_id == announcement.id
        )
    ).all()
    from models import Recipient

    user_of = dict(db_session.execute(select(Recipient.id, Recipient.user_id)).all())
    assert len(rows) == 50
    for message_id, recipient_id in rows:
        assert str(message_id) == message_id_for(announcement.id, user_of[recipient_id])
    assert {str(u) for u in user_of.values()} == set(users)


def test_spec_vector_through_sql(db_session: Session) -> None:
    # mixin-protocol.md §4.5: UniqueObjectId(announcement, recipient) test vector.
    announcement_id = uuid.UUID("3f1c2d4e-5a6b-4c7d-8e9f-0a1b2c3d4e5f")
    user = "d1e9ec7e-199d-4578-91a0-a69d9a7ba048"
    expression = planner.message_id_sql(
        announcement_id, select(func.cast(user, Delivery.message_id.type)).scalar_subquery()
    )
    assert str(db_session.execute(select(expression)).scalar_one()) == (
        "d6a862bd-7f0e-32b4-91f2-93ef4128ad02"
    )


def test_batches_hold_at_most_100_and_pages_resume(db_session: Session) -> None:
    add_recipients(db_session, 1234)
    announcement = add_announcement(db_session)
    _start(db_session, announcement)
    pages = _plan_all(db_session, announcement.id, page_size=500)
    assert pages == 3
    sizes = db_session.execute(
        select(Batch.size, func.count())
        .where(Batch.announcement_id == announcement.id)
        .group_by(Batch.size)
    ).all()
    # 500-recipient pages cut into 100s: 12 full batches and one of 34.
    assert dict(sizes) == {100: 12, 34: 1}
    per_batch = (
        db_session.execute(
            select(func.count())
            .select_from(Delivery)
            .where(Delivery.announcement_id == announcement.id)
            .group_by(Delivery.batch_id)
        )
        .scalars()
        .all()
    )
    assert max(per_batch) == 100 and sum(per_batch) == 1234
    db_session.refresh(announcement)
    assert (announcement.total, announcement.planned, announcement.batches_planned) == (
        1234,
        True,
        13,
    )
    seqs = (
        db_session.execute(
            select(Batch.seq).where(Batch.announcement_id == announcement.id).order_by(Batch.seq)
        )
        .scalars()
        .all()
    )
    assert seqs == list(range(13))
    # Planning again is a no-op (idempotent).
    assert not planner.claim_plan_lease(db_session, announcement.id, "test")


def test_audience_by_tags_skips_inactive_recipients(db_session: Session) -> None:
    add_recipients(db_session, 30, tags=["vip"])
    add_recipients(db_session, 20, tags=["other"])
    add_recipients(db_session, 5, tags=["vip"], status=RecipientStatus.UNSUBSCRIBED)
    add_recipients(db_session, 3, tags=["vip"], status=RecipientStatus.UNREACHABLE)
    announcement = add_announcement(db_session, audience=Audience.with_tags(["vip"]))
    _start(db_session, announcement)
    _plan_all(db_session, announcement.id, page_size=1000)
    states = dict(
        db_session.execute(
            select(Delivery.state, func.count())
            .where(Delivery.announcement_id == announcement.id)
            .group_by(Delivery.state)
        ).all()
    )
    assert states == {DeliveryState.PENDING: 30, DeliveryState.SKIPPED: 8}
    db_session.refresh(announcement)
    assert (announcement.total, announcement.skipped) == (38, 8)


def test_audience_list_takes_only_named_users(db_session: Session) -> None:
    users = add_recipients(db_session, 10)
    announcement = add_announcement(db_session, audience=Audience.users(users[:3]))
    _start(db_session, announcement)
    _plan_all(db_session, announcement.id, page_size=1000)
    db_session.refresh(announcement)
    assert announcement.total == 3


def test_planning_needs_a_started_announcement(db_session: Session) -> None:
    add_recipients(db_session, 3)
    announcement = add_announcement(db_session, at="2099-01-01T00:00", time_zone="Asia/Tokyo")
    assert dispatcher.start_due(db_session) == []
    assert not planner.claim_plan_lease(db_session, announcement.id, "test")
    assert announcement.scheduled_at is not None
    assert announcement.scheduled_at.isoformat() == "2098-12-31T15:00:00+00:00"


def test_planning_stays_a_bounded_number_of_messages_ahead_of_sending(db_session: Session) -> None:
    add_recipients(db_session, 450)
    announcement = add_announcement(db_session)
    _start(db_session, announcement)
    plan_ahead = 150

    def page() -> None:
        assert planner.claim_plan_lease(db_session, announcement.id, "planner-a")
        planner.plan_page(db_session, announcement.id, page_size=100, batch_size=100)

    page()
    assert not planner.far_enough_ahead(db_session, announcement.id, plan_ahead)  # 100 unsent
    page()
    assert planner.far_enough_ahead(db_session, announcement.id, plan_ahead)  # 200 unsent
    planner.release_plan_lease(db_session, announcement.id, "planner-a")
    # Far enough ahead: no tick plans it, until sending catches up; 0 means no limit.
    assert dispatcher.needing_plan(db_session, plan_ahead=plan_ahead) == []
    assert dispatcher.needing_plan(db_session, plan_ahead=0) == [announcement.id]
    db_session.execute(
        update(Announcement).where(Announcement.id == announcement.id).values(sent=60)
    )
    assert dispatcher.needing_plan(db_session, plan_ahead=plan_ahead) == [announcement.id]
    # The lease was given back, so another planner picks up at the stored cursor.
    assert planner.claim_plan_lease(db_session, announcement.id, "planner-b")
    while not planner.plan_page(
        db_session, announcement.id, page_size=100, batch_size=100
    ).finished:
        pass
    assert not planner.far_enough_ahead(db_session, announcement.id, 0)
    planned = db_session.execute(
        select(func.count()).where(Delivery.announcement_id == announcement.id)
    ).scalar_one()
    assert planned == 450


def test_a_new_partition_has_statistics_from_its_first_page(db_session: Session) -> None:
    """Without them the planner read the whole primary key index in per-announcement reads (the
    metrics' receipt lag: 1,000,000 index entries for 2,000 rows); with the key's alone, the
    receipts' UPDATE scanned the whole partition."""
    add_recipients(db_session, 20_000)
    announcement = add_announcement(db_session)
    _start(db_session, announcement)
    assert planner.claim_plan_lease(db_session, announcement.id, "test")
    planner.plan_page(db_session, announcement.id, page_size=20_000, batch_size=100)
    assert planner.claim_plan_lease(db_session, announcement.id, "test")
    planner.plan_page(db_session, announcement.id, page_size=20_000, batch_size=100)
    table = partitions.partition_name(announcement.id)
    stats: dict[str, float] = dict(
        db_session.execute(
            text("SELECT attname, n_distinct FROM pg_stats WHERE tablename = :t"), {"t": table}
        ).all()
    )
    # Sampled on the first page (2,000 rows), batch ids taken as one per 100 rows, not 20 in all.
    assert stats["announcement_id"] == 1.0 and stats["message_id"] == -1.0
    assert stats["batch_id"] == -0.01

    def plan(sql: str | TextClause, **params: object) -> str:
        statement = text(sql) if isinstance(sql, str) else sql
        explain = text("EXPLAIN " + statement.text).bindparams(
            *statement._bindparams.values()  # the statement's typed parameters (uuid[], …)
        )
        return "\n".join(db_session.execute(explain, params).scalars())

    batch_ids = list(
        db_session.execute(
            select(Batch.id).where(Batch.announcement_id == announcement.id).limit(2)
        ).scalars()
    )
    lag = plan(
        "SELECT count(*) FROM deliveries WHERE announcement_id = :a AND batch_id = ANY(:b)",
        a=announcement.id,
        b=batch_ids,
    )
    assert "_pkey" not in lag and "_batch" in lag
    message_ids = [
        str(m)
        for m in db_session.execute(
            select(Delivery.message_id).where(Delivery.announcement_id == announcement.id).limit(50)
        ).scalars()
    ]
    receipts = plan(
        APPLY_RECEIPTS,
        **apply_parameters(
            str(announcement.id), [(m, "READ", datetime.now(UTC)) for m in message_ids]
        ),
    )
    assert "Seq Scan on deliveries_" not in receipts, receipts
