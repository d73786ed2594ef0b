"""Nothing holds up anything else: a throttled or capped announcement yields at once, equal
priorities share a bot in turn, each bot's work in flight is bounded by its own quota, and a pause
stops the very next request."""

from __future__ import annotations

from collections.abc import Sequence

import redis

from models import Announcement, AnnouncementStatus, Batch, BatchState, Bot, BotProvider
from tests.factories import add_announcement, add_recipients, default_bot_id
from tests.integration.broadcast.pipeline import BOT_ID, make_sender, pace, send, start_and_plan
from worker.broadcast import dispatcher, service
from worker.broadcast.dispatcher import Pace
from worker.db import Database
from worker.messaging.fake import FakeTransport
from worker.messaging.transport import OutgoingMessage


def _owners(database: Database, batch_ids: Sequence[int]) -> list[object]:
    with database.session() as session:
        return [session.get(Batch, b).announcement_id for b in batch_ids]  # type: ignore[union-attr]


def test_a_capped_announcement_yields_its_place_at_once(
    clean_db: Database, redis_client: redis.Redis
) -> None:
    with clean_db.session() as session:
        add_recipients(session, 300)
        capped = add_announcement(session, "capped", rate_per_minute=120)
        free = add_announcement(session, "uncapped")
    start_and_plan(clean_db, capped.id)
    start_and_plan(clean_db, free.id)
    fake = FakeTransport()
    sender = make_sender(clean_db, fake, redis_client)
    with clean_db.session() as session:
        queued = dispatcher.dispatch(session, pace(10))
    owners = dict(zip(queued, _owners(clean_db, queued), strict=True))
    first_capped = next(b for b in queued if owners[b] == capped.id)

    # Its cap's bucket starts empty: the batch is parked in Postgres until its tokens come
    # (~5.5 s for a send unit of 10 messages at 120 a minute), instead of holding a worker while
    # other work waits behind it.
    parked = sender.send(first_capped)
    assert parked.outcome == "throttled" and parked.retry_in is not None and parked.retry_in > 2
    assert fake.calls == []
    with clean_db.session() as session:
        batch = session.get(Batch, first_capped)
        assert batch is not None and batch.state is BatchState.RETRY and batch.attempts == 0
    for batch_id in (b for b in queued if owners[b] == free.id):
        assert send(sender, batch_id).outcome == "done"
    with clean_db.session() as session:
        done = session.get(Announcement, free.id)
        assert done is not None and done.status is AnnouncementStatus.COMPLETED


def test_equal_priorities_take_turns(clean_db: Database) -> None:
    with clean_db.session() as session:
        add_recipients(session, 500)
        first = add_announcement(session, "first")
        second = add_announcement(session, "second")
    start_and_plan(clean_db, first.id)
    start_and_plan(clean_db, second.id)
    with clean_db.session() as session:
        queued = dispatcher.dispatch(session, pace(6))
    owners = _owners(clean_db, queued)
    assert owners.count(first.id) == owners.count(second.id) == 3
    assert owners[0] != owners[1]  # interleaved, not one backlog after the other


def test_each_bot_has_its_own_room_in_flight(clean_db: Database) -> None:
    with clean_db.session() as session:
        slow = Bot(
            name="slow", provider=BotProvider.MIXIN, credentials="env:SLOW", quota_per_minute=1_200
        )
        session.add(slow)
        session.flush()
        add_recipients(session, 1_000, bot_id=slow.id)
        add_recipients(session, 1_000)
        on_slow = add_announcement(session, "slow bot", bot_id=slow.id)
        on_default = add_announcement(session, "default bot", bot_id=default_bot_id(session))
    start_and_plan(clean_db, on_slow.id)
    start_and_plan(clean_db, on_default.id)
    tight = Pace(high_water=50, default_quota=100_000, ahead_seconds=3.0)
    with clean_db.session() as session:
        queued = dispatcher.dispatch(session, tight)
        again = dispatcher.dispatch(session, tight)
    owners = _owners(clean_db, queued)
    # 1,200 a minute is 60 messages in 3 s: one batch, plus one of slack; the other bot is not
    # held back by it and gets its own room (10 batches of its 100,000 a minute, here all of them).
    assert owners.count(on_slow.id) == tight.batches_for(1_200) == 2
    assert owners.count(on_default.id) == 10
    assert again == []  # neither bot gets more until some of its batches are sent


def test_a_pause_stops_the_next_request_of_a_batch(
    clean_db: Database, redis_client: redis.Redis
) -> None:
    with clean_db.session() as session:
        add_recipients(session, 100)
        # 100 messages of 2,000 characters are over 128 KB: the batch goes out as two requests.
        announcement = add_announcement(session, "x" * 2_000)
    start_and_plan(clean_db, announcement.id)
    fake = FakeTransport()
    original = fake.send_messages

    def pause_after_accepting(messages: Sequence[OutgoingMessage]) -> None:
        original(messages)
        with clean_db.session() as session:
            service.pause(session, announcement.id)

    fake.send_messages = pause_after_accepting  # type: ignore[method-assign]
    sender = make_sender(clean_db, fake, redis_client)
    # A full quota bucket: both requests could go at once, so only the status check stops one.
    redis_client.hset(
        f"blazecast:bucket:quota:{BOT_ID}",
        mapping={"tokens": 200, "ts": 9e9, "factor": 1, "penalized_at": 0},
    )
    with clean_db.session() as session:
        (batch_id,) = dispatcher.dispatch(session, pace(10))
    result = sender.send(batch_id)
    assert result.outcome == "released"
    assert len(fake.calls) == 1 and 0 < len(fake.calls[0]) < 100  # the second never went out
    with clean_db.session() as session:
        paused = session.get(Announcement, announcement.id)
        assert paused is not None and paused.status is AnnouncementStatus.PAUSED
        assert paused.sent == len(fake.calls[0])
