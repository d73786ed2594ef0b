"""``blazecast history archive``: the file is the report, the partition goes, failures lose nothing."""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis
from sqlalchemy import func, select, text, update

from models import Announcement, AnnouncementStatus, Batch, Delivery, RecipientStatus
from tests.cli.conftest import Cli
from tests.factories import add_announcement, add_recipients
from tests.integration.broadcast.pipeline import drive, make_sender, start_and_plan
from worker import history
from worker.broadcast import partitions
from worker.broadcast.receipts import apply_receipts
from worker.db import Database
from worker.messaging.fake import FakeTransport

T0 = datetime(2026, 8, 1, 10, 0, tzinfo=UTC)


def _old_announcement(db: Database, redis_client: redis.Redis, days_ago: int = 100) -> uuid.UUID:
    """A finished announcement (sent, some DELIVERED and READ, some skipped) that finished
    ``days_ago`` days ago."""
    with db.session() as session:
        add_recipients(session, 230)
        add_recipients(session, 7, status=RecipientStatus.UNSUBSCRIBED)
        announcement = add_announcement(session, 'an old one, with a comma, and "quotes"')
    start_and_plan(db, announcement.id)
    drive(db, make_sender(db, FakeTransport(), redis_client))
    with db.session() as session:
        ids = [str(m) for m in session.execute(select(Delivery.message_id)).scalars()]
        apply_receipts(session, [(m, "DELIVERED", T0) for m in ids[:120]])
        apply_receipts(session, [(m, "READ", T0 + timedelta(minutes=3)) for m in ids[:40]])
        session.execute(
            update(Announcement).values(completed_at=func.now() - timedelta(days=days_ago))
        )
        status = session.execute(select(Announcement.status)).scalar_one()
    assert status is AnnouncementStatus.COMPLETED
    return announcement.id


def _rows_and_batches(db: Database, announcement_id: uuid.UUID) -> tuple[int, int, bool]:
    with db.session() as session:
        deliveries = session.execute(
            select(func.count()).where(Delivery.announcement_id == announcement_id)
        ).scalar_one()
        batches = session.execute(
            select(func.count()).where(Batch.announcement_id == announcement_id)
        ).scalar_one()
        return deliveries, batches, partitions.exists(session, announcement_id)


def test_archive_holds_exactly_the_report_and_drops_the_partition(
    cli: Cli, clean_db: Database, redis_client: redis.Redis, tmp_path: Path
) -> None:
    old = _old_announcement(clean_db, redis_client)
    with clean_db.session() as session:
        add_recipients(session, 3)
        recent = add_announcement(session, "a recent one")
    start_and_plan(clean_db, recent.id)
    cli.ok("announce", "report", str(old), "--out", str(tmp_path / "report"))
    report = (tmp_path / "report" / f"{old}.csv").read_bytes()
    shown_before = cli.ok("announce", "show", str(old))

    out = cli.ok("history", "archive", "--older-than", "90d", "--out", str(tmp_path / "archive"))

    archive = tmp_path / "archive" / f"{old}.csv.gz"
    assert f"archived {old}: 237 recipients" in out and "1 announcement archived" in out
    assert gzip.decompress(archive.read_bytes()) == report
    assert report.count(b"\n") == 238  # header + 230 sent + 7 skipped
    assert _rows_and_batches(clean_db, old) == (0, 0, False)
    assert _rows_and_batches(clean_db, recent.id)[2]  # the recent one is untouched
    assert sorted(p.name for p in (tmp_path / "archive").iterdir()) == [f"{old}.csv.gz"]
    # Show and report still work, from the counters, and say where the rows are.
    shown = cli.ok("announce", "show", str(old))
    assert str(archive.resolve()) in shown.replace("\n", "")
    counters = [line for line in shown_before.splitlines() if "delivered" in line.lower()]
    assert counters and all(line in shown for line in counters)
    reported = cli.ok("announce", "report", str(old), "--out", str(tmp_path / "again"))
    assert str(archive.resolve()) in reported and "230/237 sent" in reported
    # Rerunning archives nothing more.
    assert "0 announcements archived" in cli.ok(
        "history", "archive", "--older-than", "90d", "--out", str(tmp_path / "archive")
    )


def test_an_unwritable_folder_loses_nothing_and_the_rerun_archives(
    cli: Cli, clean_db: Database, redis_client: redis.Redis, tmp_path: Path
) -> None:
    old = _old_announcement(clean_db, redis_client)
    before = _rows_and_batches(clean_db, old)
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    line = cli.fails("history", "archive", "--out", str(blocker / "archive"))
    assert f"cannot archive announcement {old}" in line and "nothing was dropped" in line
    assert _rows_and_batches(clean_db, old) == before
    cli.ok("history", "archive", "--out", str(tmp_path / "archive"))
    assert _rows_and_batches(clean_db, old) == (0, 0, False)


def test_a_full_disk_half_way_loses_nothing_and_leaves_no_partial_file(
    cli: Cli,
    clean_db: Database,
    redis_client: redis.Redis,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    old = _old_announcement(clean_db, redis_client)
    before = _rows_and_batches(clean_db, old)
    written = 0
    real_write = gzip.GzipFile.write

    def fill_up(self: gzip.GzipFile, data: bytes) -> int:  # type: ignore[override]
        nonlocal written
        written += 1
        if written > 50:  # some rows are already in the file
            raise OSError(28, "No space left on device")
        return real_write(self, data)

    monkeypatch.setattr(gzip.GzipFile, "write", fill_up)
    line = cli.fails("history", "archive", "--out", str(tmp_path / "archive"))
    assert "No space left on device" in line and "nothing was dropped" in line
    assert _rows_and_batches(clean_db, old) == before
    assert list((tmp_path / "archive").iterdir()) == []
    monkeypatch.undo()
    cli.ok("history", "archive", "--out", str(tmp_path / "archive"))
    assert _rows_and_batches(clean_db, old) == (0, 0, False)


# Runs the archive in a process of its own that kills itself (SIGKILL) at the worst moment: the
# file is written and verified, the partition not yet dropped.
KILLED_AT_RENAME = """
import os, signal, sys
os.replace = lambda *a: os.kill(os.getpid(), signal.SIGKILL)
from worker.cli.main import main
sys.argv = ["blazecast", "history", "archive", "--out", sys.argv[1]]
main()
"""


def test_a_killed_archive_loses_nothing_and_can_be_rerun(
    cli: Cli, clean_db: Database, redis_client: redis.Redis, tmp_path: Path
) -> None:
    old = _old_announcement(clean_db, redis_client)
    before = _rows_and_batches(clean_db, old)
    out_dir = tmp_path / "archive"
    killed = subprocess.run(
        [sys.executable, "-c", KILLED_AT_RENAME, str(out_dir)],
        env={**os.environ, **cli.env},
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert killed.returncode == -9, killed.stderr
    assert (out_dir / f".{old}.csv.gz.part").exists()
    assert _rows_and_batches(clean_db, old) == before
    with clean_db.session() as session:
        assert session.execute(select(Announcement.archive_path)).scalar_one() is None
        # The killed transaction left no lock behind.
        assert not session.execute(
            text("SELECT count(*) FROM pg_locks WHERE NOT granted")
        ).scalar_one()
    cli.ok("history", "archive", "--out", str(out_dir))
    assert _rows_and_batches(clean_db, old) == (0, 0, False)
    assert sorted(p.name for p in out_dir.iterdir()) == [f"{old}.csv.gz"]


def test_only_finished_announcements_older_than_the_age_are_archived(
    clean_db: Database, redis_client: redis.Redis, tmp_path: Path
) -> None:
    old = _old_announcement(clean_db, redis_client, days_ago=10)
    assert list(history.archive_due(clean_db, timedelta(days=90), tmp_path)) == []
    assert [
        a.announcement_id for a in history.archive_due(clean_db, timedelta(days=9), tmp_path)
    ] == [old]


@pytest.mark.parametrize("age", ["90", "d", "-3d", "90 days", ""])
def test_a_bad_age_is_one_clear_line(cli: Cli, age: str, tmp_path: Path) -> None:
    assert "--older-than" in cli.fails(
        "history", "archive", "--older-than", age, "--out", str(tmp_path)
    )
