"""``blazecast announce create``: flags, files, audiences, idempotency, --dry-run, --test-to."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path

import redis
from sqlalchemy import func, select

from models import Announcement, AnnouncementStatus, AudienceKind, Delivery, RecipientStatus
from tests.cli.conftest import Cli
from tests.factories import add_recipients
from tests.integration.broadcast.pipeline import drive, make_sender, start_and_plan
from worker.db import Database
from worker.messaging.fake import FakeTransport
from worker.messaging.mixin.payloads import decode_data


def _announcements(database: Database) -> list[Announcement]:
    with database.session() as session:
        return list(
            session.execute(select(Announcement).order_by(Announcement.created_at)).scalars()
        )


def test_create_from_flags_schedules_in_the_given_time_zone(cli: Cli, clean_db: Database) -> None:
    created = json.loads(
        cli.ok(
            "announce", "create", "--text", "Maintenance tonight", "--audience", "tags:vip,beta",
            "--at", "2030-05-01 09:00", "--tz", "Europe/Paris", "--priority", "5",
            "--rate", "3000", "--json",
        )
    )  # fmt: skip

    (stored,) = _announcements(clean_db)
    assert created["id"] == str(stored.id) and created["created"] is True
    assert stored.status is AnnouncementStatus.SCHEDULED
    assert stored.scheduled_at == datetime(2030, 5, 1, 7, 0, tzinfo=UTC)  # CEST is UTC+2
    assert (stored.priority, stored.rate_per_minute) == (5, 3000)
    assert stored.audience_kind is AudienceKind.TAGS and stored.audience_tags == ["vip", "beta"]
    assert decode_data(stored.data_base64 or "") == b"Maintenance tonight"


def test_a_markdown_post_and_a_card_from_json_data(
    cli: Cli, clean_db: Database, tmp_path: Path
) -> None:
    post = tmp_path / "news.md"
    post.write_text("# Release 2.0\n\nFaster **everything**.\n")
    card = tmp_path / "card.json"
    card.write_text(
        json.dumps(
            {"app_id": str(uuid.uuid4()), "title": "Spring sale", "description": "All -20 %"}
        )
    )
    cli.ok("announce", "create", "--post", str(post))
    cli.ok("announce", "create", "--category", "APP_CARD", "--data", str(card), "--title", "Sale")

    post_row, card_row = _announcements(clean_db)
    assert post_row.category == "PLAIN_POST" and post_row.content.startswith("# Release 2.0")
    assert post_row.title == "Release 2.0"  # the heading, without its Markdown
    assert (card_row.category, card_row.title) == ("APP_CARD", "Sale")
    assert json.loads(decode_data(card_row.data_base64 or ""))["title"] == "Spring sale"


def test_create_from_one_yaml_file_with_paths_relative_to_it(
    cli: Cli, clean_db: Database, tmp_path: Path
) -> None:
    with clean_db.session() as session:
        ids = add_recipients(session, 3)
    folder = tmp_path / "campaign"
    folder.mkdir()
    (folder / "body.md").write_text("**Hello** listed users")
    (folder / "ids.txt").write_text("user_id\n" + "\n".join(ids[:2]) + "\n")
    (folder / "spec.yaml").write_text(
        "title: Spring\npost_file: body.md\naudience: {users_file: ids.txt}\n"
        "at: 2030-01-02 03:04\ntime_zone: Asia/Tokyo\npriority: 2\nkey: spring-2030\n"
    )
    cli.ok("announce", "create", "--file", str(folder / "spec.yaml"), "--priority", "7")

    (stored,) = _announcements(clean_db)
    assert (stored.title, stored.category, stored.priority) == ("Spring", "PLAIN_POST", 7)
    assert stored.audience_kind is AudienceKind.LIST
    assert stored.idempotency_key == "spring-2030"
    assert stored.scheduled_at == datetime(2030, 1, 1, 18, 4, tzinfo=UTC)


def test_input_mistakes_are_one_line_naming_the_field(
    cli: Cli, clean_db: Database, tmp_path: Path
) -> None:
    ids = tmp_path / "ids.txt"
    ids.write_text(f"{uuid.uuid4()}\nnot-a-user\n")
    # An IM REST id passes the file's reading (the bot is not known yet), not the Mixin bot's check.
    imrest_ids = tmp_path / "imrest-ids.txt"
    imrest_ids.write_text("12345\n")
    spec = tmp_path / "spec.yaml"
    spec.write_text("text: hi\naudiense: all\n")
    cases = {
        ("--text", "hi", "--post", str(spec)): "content: give exactly one of",
        ("--category", "APP_CARD", "--text", '{"title": "x"}'): "APP_CARD.app_id",
        ("--text", "hi", "--audience", f"file:{ids}"): "line 2: user_id: 'not-a-user'",
        ("--text", "hi", "--audience", f"file:{imrest_ids}"): (
            "audience.user_ids[1]: user_id: '12345' is not a UUID"
        ),
        ("--text", "hi", "--audience", "everyone"): "audience: 'everyone' is not one of",
        ("--text", "hi", "--at", "tomorrow"): "at: 'tomorrow' is not a date and time",
        ("--text", "hi", "--tz", "Mars/Base"): "time_zone: unknown time zone 'Mars/Base'",
        ("--file", str(spec)): "unknown field 'audiense'",
    }
    for args, expected in cases.items():
        assert expected in cli.fails("announce", "create", *args), args
    assert _announcements(clean_db) == []


def test_the_same_key_never_creates_a_second_announcement(cli: Cli, clean_db: Database) -> None:
    first = json.loads(cli.ok("announce", "create", "--text", "Once", "--key", "k-1", "--json"))
    again = json.loads(cli.ok("announce", "create", "--text", "Once", "--key", "k-1", "--json"))
    draft = cli.ok("announce", "create", "--text", "Once", "--key", "k-1", "--draft")

    assert again["id"] == first["id"] and again["created"] is False
    assert "already exists" in draft
    assert len(_announcements(clean_db)) == 1
    error = cli.fails("announce", "create", "--text", "Different", "--key", "k-1")
    assert "'k-1' was already used" in error


def test_dry_run_shows_audience_duration_and_preview_and_stores_nothing(
    cli: Cli, clean_db: Database
) -> None:
    with clean_db.session() as session:
        add_recipients(session, 1_000, tags=["vip"])
        add_recipients(session, 5, tags=["vip"], status=RecipientStatus.UNSUBSCRIBED)
        add_recipients(session, 50)
    cli.env["BLAZECAST_QUOTA_PER_MINUTE"] = "6000"
    args = ("announce", "create", "--text", "Sale starts now", "--audience", "tags:vip")

    shown = cli.ok(*args, "--dry-run")
    figures = json.loads(cli.ok(*args, "--dry-run", "--json"))

    assert "nothing was stored" in shown and "Sale starts now" in shown
    assert "1,000 recipients (5 unsubscribed or unreachable would be skipped)" in shown
    # Bucket of the quota: burst 66 (a unit of 60 plus 60 ms of rate), rate (6000 - 66) / 60.5.
    assert figures["messages_per_minute"] == round((6000 - 66) / 60.5 * 60)
    assert figures["seconds"] == round(1000 / ((6000 - 66) / 60.5), 1)
    assert (figures["audience"], figures["skipped"], figures["stored"]) == (1000, 5, False)
    later = cli.ok(*args, "--at", "2030-05-01 09:00", "--tz", "Europe/Paris", "--dry-run")
    assert "starts        2030-05-01 07:00:00 UTC (2030-05-01 09:00 Europe/Paris)" in later
    assert _announcements(clean_db) == []


def test_test_to_sends_a_hidden_copy_whose_ids_and_counters_are_its_own(
    cli: Cli, clean_db: Database, redis_client: redis.Redis
) -> None:
    with clean_db.session() as session:
        everyone = add_recipients(session, 250)
    testers = everyone[:2]
    cli.ok(
        "announce", "create", "--text", "Big news", "--test-to", testers[0], "--test-to", testers[1]
    )
    (test,) = _announcements(clean_db)
    assert (
        test.is_test and test.title == "[test] Big news" and test.audience_kind is AudienceKind.LIST
    )
    assert str(test.id) not in cli.ok("announce", "list")
    assert str(test.id) in cli.ok("announce", "list", "--tests")

    real_id = json.loads(cli.ok("announce", "create", "--text", "Big news", "--json"))["id"]
    fake = FakeTransport()
    sender = make_sender(clean_db, fake, redis_client)
    start_and_plan(clean_db, test.id)
    start_and_plan(clean_db, uuid.UUID(real_id))
    drive(clean_db, sender)

    with clean_db.session() as session:
        test_row = session.get(Announcement, test.id)
        real_row = session.get(Announcement, uuid.UUID(real_id))
        assert test_row is not None and real_row is not None
        assert (test_row.total, test_row.sent) == (2, 2)
        assert (real_row.total, real_row.sent) == (250, 250)
        per_user = session.execute(
            select(func.count(func.distinct(Delivery.message_id)))
            .select_from(Delivery)
            .where(Delivery.announcement_id.in_((test.id, real_row.id)))
        ).scalar_one()
    assert per_user == 252  # the testers' test copies did not reuse the real message ids
    assert len(fake.delivered_ids) == 252


def test_test_to_names_unknown_users(cli: Cli, clean_db: Database) -> None:
    stranger = str(uuid.uuid4())
    error = cli.fails("announce", "create", "--text", "hi", "--test-to", stranger)
    assert "not imported as recipients" in error and stranger in error
    assert _announcements(clean_db) == []
