"""The listener's receipts: journaled in Redis at once; applied straight to Postgres without Redis."""

from __future__ import annotations

from datetime import UTC, datetime

import redis
from sqlalchemy import select

from models import Announcement
from tests.integration.broadcast.test_receipts import _sent_announcement
from tests.unit.messaging.messaging_helpers import spec_keystore
from worker.broadcast import receipt_journal
from worker.db import Database
from worker.listener import Listener, ListenerParts
from worker.messaging.transport import Receipt
from worker.ratelimit import TokenBuckets, quota_spec

BOT = "11111111-1111-4111-8111-111111111111"
T0 = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)


def _listener(database: Database, client: redis.Redis, asked: list[int]) -> Listener:
    parts = ListenerParts(
        bot=1,
        bot_user_id=BOT,
        keystore=spec_keystore(),
        quota=quota_spec(BOT, 100_000),
        blaze_url="ws://127.0.0.1:9/",
        api_url="http://127.0.0.1:9",
        database=database,
        redis=client,
        buckets=TokenBuckets(client),
        ask_recording=lambda: asked.append(1),
    )
    return Listener(parts)


def test_receipts_are_journaled_and_a_recording_is_asked_for(
    clean_db: Database, redis_client: redis.Redis
) -> None:
    asked: list[int] = []
    listener = _listener(clean_db, redis_client, asked)
    for i in range(3):
        listener._on_push(Receipt(f"9054acea-1a62-4716-9fa3-1a8c70a2165{i}", "READ", T0))
    assert listener.store_receipts()
    stream = receipt_journal.stream_key("1")
    [(_, fields)] = redis_client.xrange(stream)
    assert receipt_journal.decode(fields[b"r"]) == [
        (f"9054acea-1a62-4716-9fa3-1a8c70a2165{i}", "READ", T0) for i in range(3)
    ]
    assert asked == [1] and listener.receipts_stored == 3


def test_without_redis_receipts_go_straight_to_postgres(
    clean_db: Database, redis_client: redis.Redis
) -> None:
    ids = _sent_announcement(clean_db, redis_client, 5)
    down = redis.Redis(host="127.0.0.1", port=9, socket_connect_timeout=0.2)
    listener = _listener(clean_db, down, [])
    for message_id in ids:
        listener._on_push(Receipt(message_id, "DELIVERED", T0))
    assert listener.store_receipts()
    with clean_db.session() as session:
        announcement = session.execute(select(Announcement)).scalar_one()
    assert announcement.delivered == 5
