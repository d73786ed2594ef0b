"""IM REST announcements through the real pipeline (planner, dispatcher, sender, Postgres, Redis)
against the IM REST simulator on a real socket: one request per batch, retries deduplicated by
``transaction_id``, the retry horizon, the error table, and recall."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
from sqlalchemy import insert, select, update

from models import (
    Announcement,
    Bot,
    Delivery,
    DeliveryReason,
    DeliveryState,
    Recipient,
    RecipientStatus,
)
from simulator.imrest import ImRestSimulator
from tests.imrest_support import simulator_factory
from tests.integration.broadcast import pipeline as inline
from worker import bots
from worker.broadcast import dispatcher, service
from worker.broadcast.retry import RetryPolicy
from worker.broadcast.sender import BatchSender, SenderConfig
from worker.config import Settings
from worker.db import Database
from worker.ratelimit import TokenBuckets

TOKEN_VARIABLE = "BLAZECAST_TEST_IMREST_TOKEN"


@pytest.fixture
def make_sim() -> Iterator[Callable[..., ImRestSimulator]]:
    with simulator_factory(users=300) as make:
        yield make


def imrest_bot(
    session: Any,
    settings: Settings,
    sim: ImRestSimulator,
    monkeypatch: pytest.MonkeyPatch,
    **options: Any,
) -> Bot:
    monkeypatch.setenv(TOKEN_VARIABLE, sim.admin_token)
    return bots.add_bot(
        session,
        settings,
        name="im",
        provider="imrest",
        credentials=f"env:{TOKEN_VARIABLE}",
        quota_per_minute=60_000,
        options={
            "base_url": sim.base_url,
            "app_id": sim.app_id,
            "from_user_id": sim.sender_id,
            "timeout": 1.0,
            **options,
        },
    )


def add_users(session: Any, bot_id: int, user_ids: list[int]) -> None:
    session.execute(insert(Recipient), [{"bot_id": bot_id, "user_id": str(u)} for u in user_ids])


def sender_for(
    database: Database, settings: Settings, bot: Bot, redis_client: redis.Redis
) -> BatchSender:
    provider = bots.make_provider(bots.access(bot), settings)
    runtime = inline.TestBot(
        bot.id,
        provider,
        bots.quota_of(bot.id, bot.quota_per_minute, settings, provider="imrest"),
        provider.open_transport(),
    )
    return BatchSender(
        database,
        lambda _: runtime,
        TokenBuckets(redis_client),
        SenderConfig(
            retry=RetryPolicy(max_attempts=10, base_seconds=0.01, max_seconds=0.05),
            worker_name="test",
        ),
    )


def announce(session: Any, settings: Settings, bot: Bot, text: str, **kwargs: Any) -> Announcement:
    announcement = service.create_announcement(
        session,
        bot_id=bot.id,
        provider=bots.provider_of(bot, settings),
        category="PLAIN_TEXT",
        content=text,
        **kwargs,
    )
    session.flush()
    return announcement


def send_all(
    database: Database,
    settings: Settings,
    bot: Bot,
    redis_client: redis.Redis,
    announcement_id: Any,
) -> Announcement:
    inline.start_and_plan(database, announcement_id)
    inline.drive(database, sender_for(database, settings, bot, redis_client), rounds=200)
    with database.session() as session:
        return session.execute(
            select(Announcement).where(Announcement.id == announcement_id)
        ).scalar_one()


def test_every_user_gets_the_message_once_despite_dropped_replies_and_server_errors(
    settings: Settings,
    clean_db: Database,
    redis_client: redis.Redis,
    make_sim: Callable[..., ImRestSimulator],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sim = make_sim()
    # Replies dropped after the request ran, and requests refused with 5xx or code 20000.
    sim.set_faults(drop_rate=0.1, server_error_rate=0.1, codes={20000: 0.1}, seed=3)
    with clean_db.session() as session:
        bot = imrest_bot(session, settings, sim, monkeypatch, batch_size=20)
        add_users(session, bot.id, sim.user_ids)
        announcement = announce(session, settings, bot, "Maintenance tonight")
    done = send_all(clean_db, settings, bot, redis_client, announcement.id)
    stats = sim.stats()
    users = len(sim.user_ids)
    assert (done.total, done.sent, done.failed, done.unknown) == (users, users, 0, 0)
    assert stats["per_user"]["copies"] == {"1": users}
    assert stats["faults_injected"].get("drop", 0) > 0
    # Every dropped reply was retried, and the repeat was deduplicated, not executed.
    assert stats["dedup"]["hits"] >= stats["faults_injected"]["drop"]
    # One request per batch of 20 (plus the retries): never a request per recipient.
    assert stats["largest_targets"] == 20


def test_a_retry_past_the_horizon_reports_the_fate_unknown(
    settings: Settings,
    clean_db: Database,
    redis_client: redis.Redis,
    make_sim: Callable[..., ImRestSimulator],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sim = make_sim(users=40)
    sim.set_faults(drop_rate=1.0, limit=1)  # the first request runs, its reply is lost
    with clean_db.session() as session:
        bot = imrest_bot(
            session, settings, sim, monkeypatch, batch_size=10, retry_horizon_seconds=0
        )
        add_users(session, bot.id, sim.user_ids)
        announcement = announce(session, settings, bot, "Horizon")
    done = send_all(clean_db, settings, bot, redis_client, announcement.id)
    # The lost batch reached its 10 users, but nobody can know that: not sent, not failed.
    assert (done.sent, done.failed, done.unknown) == (30, 0, 10)
    assert sim.stats()["per_user"]["copies"] == {"1": 40}
    with clean_db.session() as session:
        reasons = session.execute(
            select(DeliveryReason.text)
            .join(Delivery, Delivery.reason_id == DeliveryReason.id)
            .where(Delivery.state == DeliveryState.UNKNOWN)
        ).scalars()
        assert all("past the provider's retry horizon" in (r or "") for r in reasons)


def test_a_user_that_does_not_exist_is_isolated_and_the_rest_served(
    settings: Settings,
    clean_db: Database,
    redis_client: redis.Redis,
    make_sim: Callable[..., ImRestSimulator],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sim = make_sim(users=50)
    ghost = max(sim.user_ids) + 1_000
    with clean_db.session() as session:
        bot = imrest_bot(session, settings, sim, monkeypatch)
        add_users(session, bot.id, [*sim.user_ids, ghost])
        announcement = announce(session, settings, bot, "Hello")
    done = send_all(clean_db, settings, bot, redis_client, announcement.id)
    assert (done.sent, done.failed) == (50, 1)
    assert sim.stats()["per_user"]["copies"] == {"1": 50}
    with clean_db.session() as session:
        status = session.execute(
            select(Recipient.status).where(Recipient.user_id == str(ghost))
        ).scalar_one()
    assert status is RecipientStatus.UNREACHABLE


def test_a_batch_declined_as_a_whole_fails_whole_without_splitting(
    settings: Settings,
    clean_db: Database,
    redis_client: redis.Redis,
    make_sim: Callable[..., ImRestSimulator],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sim = make_sim(users=30)
    sim.set_faults(data_false_rate=1.0, limit=1)
    with clean_db.session() as session:
        bot = imrest_bot(session, settings, sim, monkeypatch, batch_size=10)
        add_users(session, bot.id, sim.user_ids)
        announcement = announce(session, settings, bot, "Declined")
    done = send_all(clean_db, settings, bot, redis_client, announcement.id)
    assert (done.sent, done.failed) == (20, 10)
    # Three batches, three requests: the declined one was not bisected.
    assert sim.stats()["requests"]["send"] == 3


def test_an_expired_licence_halts_the_bot_with_the_reason(
    settings: Settings,
    clean_db: Database,
    redis_client: redis.Redis,
    make_sim: Callable[..., ImRestSimulator],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sim = make_sim(users=30)
    sim.set_faults(codes={30022: 1.0})
    with clean_db.session() as session:
        bot = imrest_bot(session, settings, sim, monkeypatch, batch_size=10)
        add_users(session, bot.id, sim.user_ids)
        announcement = announce(session, settings, bot, "Licence")
    done = send_all(clean_db, settings, bot, redis_client, announcement.id)
    with clean_db.session() as session:
        halted = session.execute(select(Bot.halted_reason).where(Bot.id == bot.id)).scalar_one()
    assert halted is not None and halted.startswith("licence: ")
    assert "licence has expired" in halted
    assert done.status.value == "paused" and done.sent == 0
    # One request, then nothing: a halted bot is not retried in a loop.
    assert sim.stats()["requests"]["send"] == 1


def test_recall_removes_the_message_for_every_recipient(
    settings: Settings,
    clean_db: Database,
    redis_client: redis.Redis,
    make_sim: Callable[..., ImRestSimulator],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sim = make_sim(users=60)
    with clean_db.session() as session:
        bot = imrest_bot(session, settings, sim, monkeypatch)
        add_users(session, bot.id, sim.user_ids)
        original = announce(session, settings, bot, "Wrong date, sorry")
    send_all(clean_db, settings, bot, redis_client, original.id)
    assert sim.stats()["per_user"]["users_visible"] == 60
    with clean_db.session() as session:
        recall = service.recall(session, original.id)
        session.flush()
        recall_id = recall.id
    done = send_all(clean_db, settings, bot, redis_client, recall_id)
    stats = sim.stats()
    assert done.sent == 60
    assert stats["messages"]["recalled"] == 60
    assert stats["per_user"]["users_visible"] == 0


def test_a_recipient_who_leaves_after_an_unanswered_request_stays_in_its_retry(
    settings: Settings,
    clean_db: Database,
    redis_client: redis.Redis,
    make_sim: Callable[..., ImRestSimulator],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sim = make_sim(users=20)
    sim.set_faults(drop_rate=1.0, limit=1)  # the first request runs; its reply is lost
    with clean_db.session() as session:
        bot = imrest_bot(session, settings, sim, monkeypatch, batch_size=10)
        add_users(session, bot.id, sim.user_ids)
        announcement = announce(session, settings, bot, "Stay")
    inline.start_and_plan(clean_db, announcement.id)
    sender = sender_for(clean_db, settings, bot, redis_client)
    with clean_db.session() as session:
        (first,) = dispatcher.dispatch(session, inline.pace(1))
    assert inline.send(sender, first).outcome == "retry"
    leaver = str(min(sim.user_ids))  # in the first request, which ran
    with clean_db.session() as session:
        session.execute(
            update(Recipient)
            .where(Recipient.user_id == leaver)
            .values(status=RecipientStatus.UNSUBSCRIBED)
        )
    inline.drive(clean_db, sender, rounds=50)
    stats = sim.stats()
    # The retry was the same request: deduplicated, nobody got a second copy.
    assert stats["per_user"]["copies"] == {"1": 20}
    assert stats["dedup"]["hits"] == 1
    with clean_db.session() as session:
        done = session.get(Announcement, announcement.id)
        assert done is not None and (done.sent, done.skipped) == (20, 0)


def test_a_refused_request_leaves_nobody_in_doubt_when_its_split_waits_for_tokens(
    settings: Settings,
    clean_db: Database,
    redis_client: redis.Redis,
    make_sim: Callable[..., ImRestSimulator],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Finding a user the server does not know takes several requests; when the budget makes
    the batch wait between them, the refused requests (which ran nothing) must not count as
    unanswered ones past the horizon."""
    sim = make_sim(users=9)
    ghost = max(sim.user_ids) + 1_000
    with clean_db.session() as session:
        bot = imrest_bot(
            session, settings, sim, monkeypatch, batch_size=10, retry_horizon_seconds=0
        )
        bot.quota_per_minute = 120  # 2 requests a second: the split waits for its tokens
        add_users(session, bot.id, [*sim.user_ids, ghost])
        announcement = announce(session, settings, bot, "Split")
    done = send_all(clean_db, settings, bot, redis_client, announcement.id)
    assert (done.sent, done.failed, done.unknown) == (9, 1, 0)
    assert sim.stats()["per_user"]["copies"] == {"1": 9}
