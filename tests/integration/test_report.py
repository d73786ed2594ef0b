"""The per-announcement report (``worker.report``): CSV of outcomes and the curves' PNG."""

from __future__ import annotations

import csv
import struct
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from tests.factories import add_announcement, add_recipients
from tests.integration.broadcast.pipeline import start_and_plan
from worker.broadcast import service
from worker.broadcast.state import AnnouncementNotFound
from worker.db import Database
from worker.report import outcome_curves, write_report

T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


def _planned(database: Database, users: int) -> uuid.UUID:
    with database.session() as session:
        add_recipients(session, users)
        announcement = add_announcement(session, "Curves")
    start_and_plan(database, announcement.id)
    return announcement.id


STAMP = text(
    """
    WITH numbered AS (
        SELECT id, row_number() OVER (ORDER BY id) - 1 AS i
        FROM deliveries WHERE announcement_id = :announcement
    ), stamped AS (
        SELECT id, i, :t0 + i * interval '100 milliseconds' AS sent FROM numbered
    )
    UPDATE deliveries d
    SET sent_at = s.sent,
        delivered_at = CASE WHEN s.i % 2 = 0 THEN s.sent + interval '1 second' END,
        read_at = CASE WHEN s.i % 4 = 0 THEN s.sent + interval '5 seconds' END,
        state = (CASE WHEN s.i % 4 = 0 THEN 'read' WHEN s.i % 2 = 0 THEN 'delivered'
                      ELSE 'sent' END)::delivery_state
    FROM stamped s WHERE d.id = s.id
    """
)


FAIL_LAST_TEN = text(
    """
    UPDATE deliveries
    SET state = 'failed', sent_at = NULL, delivered_at = NULL, read_at = NULL,
        failed_at = :t0 + interval '30 seconds'
    WHERE id IN (SELECT id FROM deliveries WHERE announcement_id = :announcement
                 ORDER BY id DESC LIMIT 10)
    """
)


def _stamp(database: Database, announcement_id: uuid.UUID) -> None:
    """Delivery i sent at T0 + i/10 s; even ones delivered 1 s later; every 4th read at +5 s."""
    with database.session() as session:
        session.execute(STAMP, {"announcement": announcement_id, "t0": T0})


def test_curves_are_cumulative_and_end_at_the_totals(clean_db: Database) -> None:
    announcement_id = _planned(clean_db, 410)
    _stamp(clean_db, announcement_id)
    with clean_db.session() as session:
        # The last ten failed instead, at 30 s (their stamps from _stamp are undone).
        session.execute(FAIL_LAST_TEN, {"announcement": announcement_id, "t0": T0})

    with clean_db.session() as session:
        curves = outcome_curves(session, announcement_id)

    assert curves.start == T0 and curves.total == 410
    assert curves.seconds[0] == 0.0 and curves.seconds[-1] >= 44.6  # the last read: 39.6 s + 5 s
    assert {name: series[-1] for name, series in curves.counts.items()} == {
        "sent": 400,
        "delivered": 200,
        "read": 100,
        "failed": 10,
    }
    for series in curves.counts.values():
        assert series[0] == 0 and all(a <= b for a, b in zip(series, series[1:], strict=False))
    # Ten messages a second: by the end of the bin that holds 20 s, about 200 were sent.
    at_20 = next(i for i, s in enumerate(curves.seconds) if s >= 20.0)
    assert 195 <= curves.counts["sent"][at_20] <= 205


def test_report_files_hold_every_recipient_and_a_real_png(
    clean_db: Database, tmp_path: Path
) -> None:
    announcement_id = _planned(clean_db, 6_000)  # more than one page of the streamed CSV
    _stamp(clean_db, announcement_id)

    with clean_db.session() as session:
        files = write_report(session, announcement_id, tmp_path / "out")

    with open(files.csv_path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert files.rows == len(rows) == 6_000
    assert {r["state"] for r in rows} == {"sent", "delivered", "read"}
    first = rows[0]
    assert first["read_at"] == (T0 + timedelta(seconds=5)).isoformat()
    header = files.png_path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", header[16:24])
    assert (width, height) == (1200, 600)


def test_a_report_of_nothing_sent_is_still_written(clean_db: Database, tmp_path: Path) -> None:
    announcement_id = _planned(clean_db, 3)
    with clean_db.session() as session:
        files = write_report(session, announcement_id, tmp_path)
        assert outcome_curves(session, announcement_id).start is None
    assert files.rows == 3 and files.png_path.stat().st_size > 0
    with clean_db.session() as session, pytest.raises(AnnouncementNotFound):
        write_report(session, uuid.uuid4(), tmp_path)


def test_pauses_resumes_and_the_cancel_are_marked(clean_db: Database, tmp_path: Path) -> None:
    announcement_id = _planned(clean_db, 100)  # started: its first "sending" event
    _stamp(clean_db, announcement_id)
    with clean_db.session() as session:
        service.pause(session, announcement_id)
        service.resume(session, announcement_id)
        service.cancel(session, announcement_id)
        # The four changes happened just now; place them at known moments of the stamped run.
        session.execute(
            text(
                """
                UPDATE announcement_events e SET at = :t0 + n.seconds * interval '1 second'
                FROM (SELECT id, (ARRAY[0, 3, 5, 8])[row_number() OVER (ORDER BY id)] AS seconds
                      FROM announcement_events WHERE announcement_id = :a) n
                WHERE e.id = n.id
                """
            ),
            {"a": announcement_id, "t0": T0},
        )
        curves = outcome_curves(session, announcement_id)
        files = write_report(session, announcement_id, tmp_path)
    # The start is not marked; sending again after a pause is a resume.
    assert curves.marks == ((3.0, "paused"), (5.0, "resumed"), (8.0, "cancelled"))
    assert files.png_path.stat().st_size > 0
