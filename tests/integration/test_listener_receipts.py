"""The listener's receipts: journaled in Redis at once; applied straight to Postgres without Redis."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

import redis
from sqlalchemy import select

from models import Announcement
from tests.integration.broadcast.test_receipts import _sent_announcement
from tests.unit.messaging.messaging_helpers import spec_keystore
from worker.broadcast import receipt_journal
from worker.db import Database
from worker.listener import ASK_SECONDS, Listener, ListenerParts
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
        (f"9054acea-1a62-4716-9fa3-1a8c70a2165{i}", "READ", T0.isoformat()) for i in range(3)
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


def _within(seconds: float, condition: Callable[[], bool]) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def test_the_end_of_a_burst_gets_its_recording_asked_for(
    clean_db: Database, redis_client: redis.Redis
) -> None:
    # Asks are spaced ASK_SECONDS apart; receipts appended after the last ask of a burst must
    # still get one, not wait for beat's safety net.
    asked: list[int] = []
    listener = _listener(clean_db, redis_client, asked)
    writer = threading.Thread(target=listener._receipts_loop, daemon=True)
    writer.start()
    try:
        listener._on_push(Receipt("9054acea-1a62-4716-9fa3-1a8c70a21650", "READ", T0))
        assert _within(2, lambda: asked == [1])
        redis_client.delete(receipt_journal.record_enqueued_key("1"))  # the recording started
        listener._on_push(Receipt("9054acea-1a62-4716-9fa3-1a8c70a21651", "READ", T0))
        assert _within(2 + ASK_SECONDS, lambda: asked == [1, 1])
        entries = redis_client.xrange(receipt_journal.stream_key("1"))
        assert sum(len(receipt_journal.decode(f[b"r"])) for _, f in entries) == 2
        # Nothing more to record: no further asks.
        time.sleep(2 * ASK_SECONDS)
        assert asked == [1, 1]
    finally:
        listener.stop.set()
        writer.join(timeout=5)
