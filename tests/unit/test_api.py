"""The Python API for admin scripts (``worker.api``), against the real database."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from models import Announcement, AnnouncementStatus, AudienceKind, Recipient
from tests.factories import add_recipients
from worker.api import Audience, Blazecast, IdempotencyConflict
from worker.broadcast.service import InvalidAnnouncement
from worker.broadcast.state import AnnouncementNotFound
from worker.config import Settings
from worker.db import Database
from worker.messaging.mixin.payloads import PayloadError


@pytest.fixture
def api(settings: Settings, clean_db: Database) -> Iterator[Blazecast]:
    with Blazecast(settings) as blazecast:
        yield blazecast


def _count(database: Database) -> int:
    with database.session() as session:
        return int(session.execute(select(func.count()).select_from(Announcement)).scalar_one())


def test_enqueue_ten_times_creates_one_announcement(api: Blazecast, clean_db: Database) -> None:
    calls = [api.enqueue("Maintenance at 22:00", key="maint-1") for _ in range(10)]

    assert _count(clean_db) == 1
    assert [c.created for c in calls] == [True] + [False] * 9
    assert len({c.id for c in calls}) == 1
    assert calls[0].announcement.status is AnnouncementStatus.SCHEDULED


def test_enqueue_racing_from_many_threads_still_creates_one(
    settings: Settings, clean_db: Database
) -> None:
    results: list[bool] = []
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def script() -> None:
        try:
            with Blazecast(settings) as mine:
                start.wait()
                results.append(mine.enqueue("Race", key="race-1").created)
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=script) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert errors == []
    assert sorted(results) == [False] * 7 + [True]
    assert _count(clean_db) == 1


def test_a_key_reused_for_another_message_is_refused(api: Blazecast, clean_db: Database) -> None:
    api.enqueue("First", key="k")
    with pytest.raises(IdempotencyConflict, match="'k' was already used"):
        api.enqueue("Second", key="k")
    with pytest.raises(InvalidAnnouncement, match="key: give an idempotency key"):
        api.enqueue("No key", key=" ")
    assert _count(clean_db) == 1


def test_create_then_schedule_at_a_local_time(api: Blazecast, clean_db: Database) -> None:
    with clean_db.session() as session:
        add_recipients(session, 2, tags=["beta"])
    draft = api.create(
        category="APP_BUTTON_GROUP",
        content=[{"label": "Open", "color": "#00AA00", "action": "https://example.com"}],
        audience=Audience.with_tags(["beta"]),
        title="Buttons",
    )
    assert draft.status is AnnouncementStatus.DRAFT and draft.scheduled_at is None

    scheduled = api.schedule(draft.id, "2030-03-01 10:00", time_zone="Asia/Tokyo")

    assert scheduled.status is AnnouncementStatus.SCHEDULED
    assert scheduled.scheduled_at == datetime(2030, 3, 1, 1, 0, tzinfo=UTC)
    assert scheduled.audience == "tags: beta"


def test_pause_resume_cancel_and_status(api: Blazecast) -> None:
    news = api.enqueue("News", key="news", at="2030-01-01T00:00")
    assert api.pause(news.id).status is AnnouncementStatus.PAUSED
    assert api.resume(str(news.id)[:8]).status is AnnouncementStatus.SCHEDULED
    cancelled = api.cancel(news.announcement)
    assert cancelled.status is AnnouncementStatus.CANCELLED
    assert api.status(news.id).status_reason == "cancelled by operator"
    assert [a.id for a in api.announcements()] == [news.id]
    with pytest.raises(AnnouncementNotFound):
        api.status(uuid.uuid4())


def test_bad_input_names_the_field(api: Blazecast, clean_db: Database) -> None:
    with pytest.raises(PayloadError, match="APP_CARD.title"):
        api.enqueue(key="card", category="APP_CARD", content={"app_id": str(uuid.uuid4())})
    with pytest.raises(InvalidAnnouncement, match="either text or content"):
        api.create("text", content={"also": "content"})
    with pytest.raises(InvalidAnnouncement, match="not imported as recipients"):
        api.enqueue("hi", key="list", audience=Audience.users([str(uuid.uuid4())]))
    assert _count(clean_db) == 0


def test_import_users_from_a_file(api: Blazecast, clean_db: Database, tmp_path: Path) -> None:
    ids = [str(uuid.uuid4()) for _ in range(3)]
    users = tmp_path / "users.csv"
    users.write_text("user_id,tags\n" + "".join(f"{u},vip\n" for u in ids))

    report = api.import_users(users)
    listed = api.enqueue("VIPs only", key="vip", audience=Audience.users(ids[:2]))

    assert (report.inserted, report.errors) == (3, [])
    with clean_db.session() as session:
        stored = session.execute(select(Recipient.user_id, Recipient.tags)).all()
        kind = session.get(Announcement, listed.id)
    assert {(str(u), tuple(t)) for u, t in stored} == {(u, ("vip",)) for u in ids}
    assert kind is not None and kind.audience_kind is AudienceKind.LIST
