"""``blazecast announce list|show|status|report`` and the steering verbs, on announcements that
went through the real pipeline (in-process, with a fake provider)."""

from __future__ import annotations

import csv
import json
import re
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis
from sqlalchemy import select, update

from models import Announcement, AnnouncementStatus, RecipientStatus
from tests.cli.conftest import Cli
from tests.factories import add_announcement, add_recipients
from tests.integration.broadcast.pipeline import drive, make_sender, start_and_plan
from worker.broadcast import receipts
from worker.db import Database
from worker.messaging.errors import Forbidden
from worker.messaging.fake import FakeTransport
from worker.messaging.mixin.ids import message_id_for


@pytest.fixture
def sent(clean_db: Database, redis_client: redis.Redis) -> tuple[uuid.UUID, list[str]]:
    """An announcement to 300 users, sent: two blocked the bot, 100 delivered, 40 of them read."""
    with clean_db.session() as session:
        users = add_recipients(session, 300)
        add_recipients(session, 3, status=RecipientStatus.UNSUBSCRIBED)
        announcement = add_announcement(session, "Release notes are out", title="Release 2.0")
    fake = FakeTransport()
    for blocked in users[:2]:
        fake.fail_for(message_id_for(announcement.id, blocked), Forbidden("Forbidden.", code=403,
                      extra={"recipient_id": blocked}))  # fmt: skip
    start_and_plan(clean_db, announcement.id)
    drive(clean_db, make_sender(clean_db, fake, redis_client))
    now = datetime.now(UTC)
    items = [(message_id_for(announcement.id, u), "DELIVERED", now) for u in users[2:102]]
    items += [(message_id_for(announcement.id, u), "READ", now) for u in users[2:42]]
    with clean_db.session() as session:
        receipts.apply_receipts(session, items)
    return announcement.id, users


def test_show_lists_counters_and_failures_grouped_by_reason(cli: Cli, sent: tuple) -> None:
    announcement_id, _ = sent
    shown = json.loads(cli.ok("announce", "show", str(announcement_id)[:8], "--json"))

    assert shown["status"] == "completed"
    counts = {k: shown[k] for k in ("total", "sent", "delivered", "read", "failed", "skipped")}
    assert counts == {"total": 303, "sent": 298, "delivered": 100, "read": 40, "failed": 2,
                      "skipped": 3}  # fmt: skip
    failures = {(f["state"], f["reason"]): f["count"] for f in shown["failures"]}
    assert failures == {
        ("failed", "Mixin error 403: Forbidden."): 2,  # one group, whoever the recipient
        ("skipped", "unsubscribed"): 3,
    }
    assert shown["content"] == "Release notes are out"
    text = cli.ok("announce", "show", str(announcement_id))
    assert "Mixin error 403: Forbidden." in text and "Release 2.0" in text


def test_status_reports_progress_and_watch_ends_when_it_is_over(cli: Cli, sent: tuple) -> None:
    announcement_id, _ = sent
    status = json.loads(cli.ok("announce", "status", str(announcement_id), "--json"))
    assert (status["status"], status["sent"], status["read"]) == ("completed", 298, 40)
    assert status["eta_seconds"] is None

    # Into a pipe, --watch prints a line per change (a Live view would print nothing until the end).
    watched = cli.ok("announce", "status", str(announcement_id), "--watch", "--interval", "0.1")
    lines = watched.splitlines()
    assert lines[0] == "completed: 298/303 sent, 100 delivered, 40 read, 2 failed, 3 skipped"
    assert lines[-1].startswith("completed: 298 sent, 100 delivered, 40 read, 2 failed, 3 skipped")

    # Failed and skipped are told apart, as `show` does (the unsubscribed were skipped).
    bars = cli.ok("announce", "status", str(announcement_id))
    assert "33.0 %" in bars  # 100 of 303 delivered
    assert re.search(r"failed .* 2 / 303", bars) and re.search(r"skipped .* 3 / 303", bars), bars


def test_report_writes_every_recipient_outcome_and_a_png(
    cli: Cli, sent: tuple, tmp_path: Path
) -> None:
    announcement_id, users = sent
    out = cli.ok("announce", "report", str(announcement_id), "--out", str(tmp_path / "r"))

    assert "303 recipients" in out
    with open(tmp_path / "r" / f"{announcement_id}.csv", newline="") as handle:
        rows = {row["user_id"]: row for row in csv.DictReader(handle)}
    assert len(rows) == 303
    assert rows[users[0]]["state"] == "failed" and "403" in rows[users[0]]["reason"]
    assert rows[users[2]]["state"] == "read" and rows[users[2]]["read_at"]
    assert rows[users[200]]["state"] == "sent" and rows[users[200]]["delivered_at"] == ""
    png = (tmp_path / "r" / f"{announcement_id}.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")


def test_list_shows_newest_first_and_filters_by_status(
    cli: Cli, clean_db: Database, sent: tuple
) -> None:
    announcement_id, _ = sent
    later = json.loads(cli.ok("announce", "create", "--text", "Later", "--draft", "--json"))
    listed = json.loads(cli.ok("announce", "list", "--json"))
    assert [a["id"] for a in listed] == [later["id"], str(announcement_id)]
    drafts = json.loads(cli.ok("announce", "list", "--status", "draft", "--json"))
    assert [a["id"] for a in drafts] == [later["id"]]
    table = cli.ok("announce", "list")
    assert "Release 2.0" in table and "completed" in table and "298" in table


def test_pause_resume_cancel_take_effect_and_refuse_what_the_state_machine_forbids(
    cli: Cli, clean_db: Database
) -> None:
    with clean_db.session() as session:
        add_recipients(session, 10)
        announcement = add_announcement(session, "Steer me")
    key = str(announcement.id)[:6]

    assert "paused (now paused)" in cli.ok("announce", "pause", key)
    assert _status(clean_db, announcement.id) is AnnouncementStatus.PAUSED
    assert "(now scheduled)" in cli.ok("announce", "resume", key)
    cli.run("announce", "cancel", key, input="n\n")  # the operator thinks again
    assert _status(clean_db, announcement.id) is AnnouncementStatus.SCHEDULED
    assert "cancelled" in cli.ok("announce", "cancel", key, "--yes")
    assert _status(clean_db, announcement.id) is AnnouncementStatus.CANCELLED

    assert cli.fails("announce", "resume", key) == (
        "error: an announcement cannot go from cancelled to scheduled"
    )
    assert cli.fails("announce", "pause", "00000000") == "error: no announcement with id 00000000"


def test_a_draft_is_scheduled_at_a_local_time(cli: Cli, clean_db: Database) -> None:
    draft = json.loads(cli.ok("announce", "create", "--text", "Later", "--draft", "--json"))
    assert draft["status"] == "draft" and draft["scheduled_at"] is None
    cli.ok(
        "announce", "schedule", draft["id"], "--at", "2031-07-01 08:30", "--tz", "America/New_York"
    )
    with clean_db.session() as session:
        stored = session.get(Announcement, uuid.UUID(draft["id"]))
        assert stored is not None
        assert stored.status is AnnouncementStatus.SCHEDULED
        assert stored.scheduled_at == datetime(2031, 7, 1, 12, 30, tzinfo=UTC)


def test_recall_targets_exactly_those_who_were_sent_it(
    cli: Cli, clean_db: Database, redis_client: redis.Redis, sent: tuple
) -> None:
    announcement_id, users = sent
    declined = cli.run("announce", "recall", str(announcement_id), input="n\n")
    assert declined.exit_code != 0 and _recall_of(clean_db, announcement_id) is None
    out = cli.ok("announce", "recall", str(announcement_id), "--yes")
    assert "MESSAGE_RECALL to the 298 users" in out

    recall = _recall_of(clean_db, announcement_id)
    assert recall is not None
    fake = FakeTransport()
    start_and_plan(clean_db, recall.id)
    drive(clean_db, make_sender(clean_db, fake, redis_client))
    recalled = {m.recipient_id for m in fake.sent_messages}
    assert recalled == set(users[2:])  # not the two who never got it, nor the unsubscribed
    assert {m.category for m in fake.sent_messages} == {"MESSAGE_RECALL"}


def test_ambiguous_prefixes_are_refused(cli: Cli, clean_db: Database) -> None:
    with clean_db.session() as session:
        for suffix in ("0000", "1111"):
            created = add_announcement(session, f"n{suffix}")
            session.execute(
                update(Announcement)
                .where(Announcement.id == created.id)
                .values(id=uuid.UUID(f"abcd{suffix}-0000-4000-8000-000000000000"))
            )
    assert "matches several announcements" in cli.fails("announce", "show", "abcd")
    assert "n1111" in cli.ok("announce", "show", "abcd1")


def _recall_of(database: Database, announcement_id: uuid.UUID) -> Announcement | None:
    with database.session() as session:
        found: Announcement | None = session.execute(
            select(Announcement).where(Announcement.recall_of == announcement_id)
        ).scalar_one_or_none()
        return found


def _status(database: Database, announcement_id: uuid.UUID) -> AnnouncementStatus:
    with database.session() as session:
        found = session.get(Announcement, announcement_id)
        assert found is not None
        return found.status


def test_a_users_history_shows_what_happened_to_each_announcement(cli: Cli, sent: tuple) -> None:
    announcement_id, users = sent
    blocked = json.loads(cli.ok("users", "show", users[0], "--json"))
    reader = json.loads(cli.ok("users", "show", users[2], "--json"))

    assert [(r["announcement"], r["state"]) for r in blocked["recent"]] == [
        (str(announcement_id), "failed")
    ]
    assert blocked["status"] == "unreachable"  # a 403 means the user blocked the bot
    assert reader["recent"][0]["state"] == "read" and reader["recent"][0]["sent_at"]
