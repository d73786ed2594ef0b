"""Sending batches through a fake provider with the real database and Redis buckets."""

from __future__ import annotations

import redis
from sqlalchemy import func, select

from models import (
    Announcement,
    AnnouncementStatus,
    Batch,
    BatchState,
    Bot,
    Delivery,
    DeliveryReason,
    DeliveryState,
    Recipient,
    RecipientStatus,
)
from tests.factories import add_announcement, add_recipients
from tests.integration.broadcast.pipeline import (
    BOT_ID,
    drive,
    make_sender,
    pace,
    send,
    start_and_plan,
)
from worker.broadcast import dispatcher, service
from worker.broadcast.sender import BatchSender
from worker.db import Database
from worker.messaging.errors import (
    Forbidden,
    InvalidData,
    RateLimited,
    ServerError,
    Unauthorized,
)
from worker.messaging.fake import FakeTransport
from worker.ratelimit import quota_spec


def _states(database: Database, announcement_id: object) -> dict[DeliveryState, int]:
    with database.session() as session:
        return dict(
            session.execute(
                select(Delivery.state, func.count())
                .where(Delivery.announcement_id == announcement_id)
                .group_by(Delivery.state)
            ).all()
        )


def _announcement(database: Database, announcement_id: object) -> Announcement:
    with database.session() as session:
        found = session.get(Announcement, announcement_id)
        assert found is not None
        return found


def _setup(database: Database, recipients: int, **kwargs: object) -> Announcement:
    with database.session() as session:
        add_recipients(session, recipients)
        announcement = add_announcement(session, **kwargs)  # type: ignore[arg-type]
    start_and_plan(database, announcement.id)
    return announcement


def _three_queued_batches(
    database: Database, redis_client: redis.Redis
) -> tuple[Announcement, FakeTransport, BatchSender, list[int]]:
    """300 recipients planned, their three batches queued, a sender over a fake transport."""
    announcement = _setup(database, 300)
    fake = FakeTransport()
    sender = make_sender(database, fake, redis_client)
    with database.session() as session:
        queued = dispatcher.dispatch(session, pace(10))
    assert len(queued) == 3
    return announcement, fake, sender, queued


def test_every_recipient_gets_one_message_and_the_announcement_completes(
    clean_db: Database, redis_client: redis.Redis
) -> None:
    announcement = _setup(clean_db, 250)
    fake = FakeTransport()
    results = drive(clean_db, make_sender(clean_db, fake, redis_client))
    assert [r.outcome for r in results] == ["done"] * 3
    assert [len(b) for b in fake.batches] == [100, 100, 50]
    assert len(fake.delivered_ids) == 250 and fake.duplicate_sends == 0
    done = _announcement(clean_db, announcement.id)
    assert done.status is AnnouncementStatus.COMPLETED
    assert (done.total, done.sent, done.failed, done.skipped) == (250, 250, 0, 0)
    assert _states(clean_db, announcement.id) == {DeliveryState.SENT: 250}
    sent_ids = {m.message_id for m in fake.sent_messages}
    with clean_db.session() as session:
        stored = {str(m) for m in session.execute(select(Delivery.message_id)).scalars()}
    assert sent_ids == stored


def test_a_forbidden_recipient_is_isolated_and_the_rest_are_served(
    clean_db: Database, redis_client: redis.Redis
) -> None:
    announcement = _setup(clean_db, 100)
    with clean_db.session() as session:
        blocked = session.execute(
            select(Delivery.message_id, Delivery.recipient_id).order_by(Delivery.id).offset(37)
        ).first()
    assert blocked is not None
    fake = FakeTransport()
    fake.fail_for(str(blocked.message_id), Forbidden("Forbidden.", code=403))
    drive(clean_db, make_sender(clean_db, fake, redis_client))
    assert len(fake.delivered_ids) == 99
    assert str(blocked.message_id) not in fake.delivered_ids
    # Bisection: at most ~2·log2(100) failed calls, not one call per message.
    assert len(fake.calls) - len(fake.batches) <= 14
    assert _states(clean_db, announcement.id) == {DeliveryState.SENT: 99, DeliveryState.FAILED: 1}
    with clean_db.session() as session:
        recipient = session.get(Recipient, blocked.recipient_id)
        assert recipient is not None and recipient.status is RecipientStatus.UNREACHABLE
        failed = session.execute(
            select(DeliveryReason.text)
            .join(Delivery, Delivery.reason_id == DeliveryReason.id)
            .where(Delivery.state == DeliveryState.FAILED)
        ).scalar_one()
    assert "403" in failed
    assert _announcement(clean_db, announcement.id).status is AnnouncementStatus.COMPLETED


def test_an_invalid_message_fails_alone(clean_db: Database, redis_client: redis.Redis) -> None:
    announcement = _setup(clean_db, 10)
    with clean_db.session() as session:
        bad = session.execute(select(Delivery.message_id).limit(1)).scalar_one()
    fake = FakeTransport()
    fake.fail_for(str(bad), InvalidData("invalid field", code=10002, extra={"field": "data"}))
    drive(clean_db, make_sender(clean_db, fake, redis_client))
    assert _states(clean_db, announcement.id) == {DeliveryState.SENT: 9, DeliveryState.FAILED: 1}


def test_transient_errors_retry_with_the_same_ids_then_succeed(
    clean_db: Database, redis_client: redis.Redis
) -> None:
    announcement = _setup(clean_db, 100)
    fake = FakeTransport()
    fake.fail_next(ServerError("Blaze server error.", code=7000), times=2)
    results = drive(clean_db, make_sender(clean_db, fake, redis_client, max_attempts=3))
    assert [r.outcome for r in results] == ["retry", "retry", "done"]
    assert all(r.retry_in is not None and r.retry_in > 0 for r in results[:2])
    ids_per_call = [{m.message_id for m in call} for call in fake.calls]
    assert ids_per_call[0] == ids_per_call[1] == ids_per_call[2]
    assert _states(clean_db, announcement.id) == {DeliveryState.SENT: 100}
    assert results[0].error == "Mixin error 7000: Blaze server error."
    # The report's attempts column: each message went out three times.
    with clean_db.session() as session:
        attempts = session.execute(select(Delivery.attempts).distinct()).scalars().all()
    assert attempts == [3]


def test_retries_are_bounded(clean_db: Database, redis_client: redis.Redis) -> None:
    announcement = _setup(clean_db, 100)
    fake = FakeTransport()
    fake.fail_next(ServerError("Internal Server Error.", code=500), times=10)
    results = drive(clean_db, make_sender(clean_db, fake, redis_client, max_attempts=3))
    assert [r.outcome for r in results] == ["retry", "retry", "failed"]
    assert _states(clean_db, announcement.id) == {DeliveryState.FAILED: 100}
    assert results[-1].error == "Mixin error 500: Internal Server Error."
    with clean_db.session() as session:
        attempts = session.execute(select(Delivery.attempts).distinct()).scalars().all()
    assert attempts == [3]
    with clean_db.session() as session:
        batch = session.execute(select(Batch)).scalar_one()
    assert batch.state is BatchState.FAILED and batch.attempts == 3


def test_rate_limited_slows_the_shared_bucket(
    clean_db: Database, redis_client: redis.Redis
) -> None:
    _setup(clean_db, 100)
    fake = FakeTransport()
    fake.fail_next(RateLimited("Too Many Requests.", code=429))
    sender = make_sender(clean_db, fake, redis_client)
    spec = quota_spec(BOT_ID, 1_000_000)
    _, nominal = sender.buckets.level(spec)
    drive(clean_db, sender)
    _, slowed = sender.buckets.level(spec)
    assert slowed < nominal * 0.75


def test_unauthorized_halts_the_bot_until_resume(
    clean_db: Database, redis_client: redis.Redis
) -> None:
    announcement = _setup(clean_db, 200)
    fake = FakeTransport()
    fake.fail_next(
        Unauthorized("Unauthorized, maybe invalid token.", code=401, reason="clock skew")
    )
    results = drive(clean_db, make_sender(clean_db, fake, redis_client))
    assert results[0].outcome == "released"
    paused = _announcement(clean_db, announcement.id)
    assert paused.status is AnnouncementStatus.PAUSED
    assert paused.status_reason is not None and "clock skew" in paused.status_reason
    with clean_db.session() as session:
        bot = session.execute(select(Bot)).scalar_one()
        assert bot.halted_reason is not None
        assert dispatcher.dispatch(session, pace(100)) == []
        service.resume(session, announcement.id)
    drive(clean_db, make_sender(clean_db, fake, redis_client))
    assert _states(clean_db, announcement.id) == {DeliveryState.SENT: 200}
    assert len(fake.delivered_ids) == 200 and fake.duplicate_sends == 0


def test_pause_stops_at_the_next_batch_and_resume_never_resends(
    clean_db: Database, redis_client: redis.Redis
) -> None:
    announcement, fake, sender, queued = _three_queued_batches(clean_db, redis_client)
    assert send(sender, queued[0]).outcome == "done"
    with clean_db.session() as session:
        service.pause(session, announcement.id)
    assert [send(sender, b).outcome for b in queued[1:]] == ["released", "released"]
    assert len(fake.delivered_ids) == 100
    with clean_db.session() as session:
        assert dispatcher.dispatch(session, pace(10)) == []
        service.resume(session, announcement.id)
    drive(clean_db, sender)
    assert len(fake.delivered_ids) == 300 and fake.duplicate_sends == 0
    assert _announcement(clean_db, announcement.id).status is AnnouncementStatus.COMPLETED


def test_cancel_skips_the_rest(clean_db: Database, redis_client: redis.Redis) -> None:
    announcement, fake, sender, queued = _three_queued_batches(clean_db, redis_client)
    send(sender, queued[0])
    with clean_db.session() as session:
        service.cancel(session, announcement.id)
    assert [send(sender, b).outcome for b in queued[1:]] == ["not-leased", "not-leased"]
    cancelled = _announcement(clean_db, announcement.id)
    assert cancelled.status is AnnouncementStatus.CANCELLED
    assert (cancelled.sent, cancelled.skipped) == (100, 200)


def test_recipients_who_left_are_skipped(clean_db: Database, redis_client: redis.Redis) -> None:
    announcement = _setup(clean_db, 50)
    with clean_db.session() as session:
        session.execute(
            Recipient.__table__.update()
            .where(Recipient.id <= 5)
            .values(status=RecipientStatus.UNSUBSCRIBED)
        )
    fake = FakeTransport()
    drive(clean_db, make_sender(clean_db, fake, redis_client))
    assert len(fake.delivered_ids) == 45
    done = _announcement(clean_db, announcement.id)
    assert (done.status, done.sent, done.skipped) == (AnnouncementStatus.COMPLETED, 45, 5)


def test_recall_sends_message_recall_for_each_sent_message(
    clean_db: Database, redis_client: redis.Redis
) -> None:
    original = _setup(clean_db, 120)
    fake = FakeTransport()
    drive(clean_db, make_sender(clean_db, fake, redis_client))
    with clean_db.session() as session:
        recall = service.recall(session, original.id)
    start_and_plan(clean_db, recall.id)
    drive(clean_db, make_sender(clean_db, fake, redis_client))
    recalls = [m for m in fake.sent_messages if m.category == "MESSAGE_RECALL"]
    assert len(recalls) == 120
    import base64
    import json

    recalled = {
        json.loads(base64.urlsafe_b64decode(m.data_base64 + "=="))["message_id"] for m in recalls
    }
    originals = {m.message_id for m in fake.sent_messages if m.category == "PLAIN_TEXT"}
    assert recalled == originals
    assert _announcement(clean_db, recall.id).status is AnnouncementStatus.COMPLETED


def test_cancel_during_a_send_counts_every_recipient_once(
    clean_db: Database, redis_client: redis.Redis
) -> None:
    from worker.broadcast import reaper

    announcement, fake, sender, queued = _three_queued_batches(clean_db, redis_client)
    in_flight = queued[0]

    original = fake.send_messages

    def cancel_then_accept(messages):  # type: ignore[no-untyped-def]
        # The operator cancels while this batch is on the wire; the provider still accepts it.
        with clean_db.session() as session:
            service.cancel(session, announcement.id)
        original(messages)

    fake.send_messages = cancel_then_accept  # type: ignore[method-assign]
    assert send(sender, in_flight).outcome == "done"
    fake.send_messages = original  # type: ignore[method-assign]
    cancelled = _announcement(clean_db, announcement.id)
    assert (cancelled.sent, cancelled.skipped) == (100, 200)
    assert cancelled.sent + cancelled.skipped == cancelled.total

    # A batch in flight at the cancel that then fails is closed by the reaper.
    second = _setup(clean_db, 0)
    with clean_db.session() as session:
        batch = dispatcher.dispatch(session, pace(10))[0]
    fake.fail_next(ServerError("Internal Server Error.", code=500))
    fake.send_messages = cancel_then_accept  # type: ignore[method-assign]
    announcement = second
    assert send(sender, batch).outcome == "retry"
    with clean_db.session() as session:
        assert reaper.close_abandoned(session) == 1
    closed = _announcement(clean_db, second.id)
    assert closed.sent + closed.skipped == closed.total == 300


def test_a_named_culprit_is_failed_without_bisecting(
    clean_db: Database, redis_client: redis.Redis
) -> None:
    announcement = _setup(clean_db, 100)
    with clean_db.session() as session:
        blocked = session.execute(
            select(Delivery.message_id).order_by(Delivery.id).offset(61).limit(1)
        ).scalar_one()
    fake = FakeTransport()
    fake.fail_for(
        str(blocked),
        Forbidden("Forbidden.", code=403, extra={"message_id": str(blocked)}),
    )
    drive(clean_db, make_sender(clean_db, fake, redis_client))
    assert len(fake.calls) == 2  # the batch, then the 99 others: no bisection
    assert _states(clean_db, announcement.id) == {DeliveryState.SENT: 99, DeliveryState.FAILED: 1}
