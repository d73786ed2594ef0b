"""The receipts journal: what the listener appended reaches Postgres, even past a dead recorder."""

from __future__ import annotations

from datetime import UTC, datetime

import redis
from sqlalchemy import select

from models import Announcement
from tests.integration.broadcast.test_receipts import _sent_announcement
from worker.broadcast import receipt_journal
from worker.broadcast.receipt_journal import GROUP, ReceiptJournal, record, stream_key
from worker.db import Database

T0 = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)
BOT = "8a7e1f2c-0d3b-4c5a-9e6f-1a2b3c4d5e6f"


def _counters(database: Database) -> tuple[int, int]:
    with database.session() as session:
        a = session.execute(select(Announcement)).scalar_one()
        return a.delivered, a.read


def test_appended_receipts_are_applied_and_leave_the_stream(
    clean_db: Database, redis_client: redis.Redis
) -> None:
    ids = _sent_announcement(clean_db, redis_client, 2_500)
    journal = ReceiptJournal(redis_client, BOT)
    # The first ask sets the bot's "recording enqueued" flag (publish one); the next finds it set.
    assert journal.append([(m, "DELIVERED", T0) for m in ids], ask=True)
    assert not journal.append([(m, "READ", T0) for m in ids[:1_000]], ask=True)
    assert receipt_journal.journaled_bots(redis_client) == [BOT]
    done = record(redis_client, clean_db, stream_key(BOT), "recorder-1")
    assert (done.delivered, done.read) == (2_500, 1_000)
    assert _counters(clean_db) == (2_500, 1_000)
    assert redis_client.xlen(stream_key(BOT)) == 0  # applied entries are deleted
    # Nothing left: recording again changes nothing.
    assert record(redis_client, clean_db, stream_key(BOT), "recorder-1").receipts == 0


def test_entries_a_dead_recorder_read_are_claimed_and_applied(
    clean_db: Database, redis_client: redis.Redis
) -> None:
    ids = _sent_announcement(clean_db, redis_client, 300)
    stream = stream_key(BOT)
    ReceiptJournal(redis_client, BOT).append([(m, "READ", T0) for m in ids])
    receipt_journal.ensure_group(redis_client, stream)
    # A recorder read the entry, then was SIGKILLed before its transaction committed.
    redis_client.xreadgroup(GROUP, "killed", {stream: ">"}, count=10)
    assert record(redis_client, clean_db, stream, "live", claim_idle_ms=60_000).receipts == 0
    done = record(redis_client, clean_db, stream, "live", claim_idle_ms=0)
    assert (done.claimed, done.read) == (1, 300)
    assert _counters(clean_db) == (300, 300)
    assert redis_client.xpending(stream, GROUP)["pending"] == 0


def test_an_entry_postgres_refuses_is_set_aside_alone(
    clean_db: Database, redis_client: redis.Redis
) -> None:
    ids = _sent_announcement(clean_db, redis_client, 20)
    stream = stream_key(BOT)
    journal = ReceiptJournal(redis_client, BOT)
    journal.append([(m, "DELIVERED", T0) for m in ids[:10]])
    journal.append([("not-a-uuid", "READ", T0)])  # got past the edge somehow
    journal.append([(m, "DELIVERED", T0) for m in ids[10:]])
    done = record(redis_client, clean_db, stream, "recorder-1")
    assert (done.delivered, done.rejected) == (20, 1)
    assert _counters(clean_db) == (20, 0)
    assert redis_client.xlen(stream) == 0
    assert redis_client.xlen(f"{stream}:rejected") == 1


def test_entries_keep_their_times_to_the_microsecond() -> None:
    at = datetime(2026, 11, 21, 10, 0, 0, 123_456, tzinfo=UTC)
    batch = [("9054acea-1a62-4716-9fa3-1a8c70a21650", "READ", at)]
    [(message_id, status, text)] = receipt_journal.decode(receipt_journal.encode(batch))
    assert (message_id, status, datetime.fromisoformat(str(text))) == batch[0]
