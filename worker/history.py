"""Retention: an old announcement's per-recipient rows go to a ``.csv.gz`` file, then its partition.

``blazecast history archive --older-than 90d --out DIR`` (or beat, when
``BLAZECAST_HISTORY_ARCHIVE_AFTER_DAYS`` is set) takes each finished announcement older than that,
one at a time, in one transaction each:

1. lock its deliveries partition against writers (a late receipt waits; nothing else does);
2. stream the rows, exactly as ``announce report`` writes its CSV, into ``DIR/.<id>.csv.gz.part``,
   fsync it;
3. read the file back: it must decompress whole, hash to what was written and hold as many records;
4. rename it to ``DIR/<id>.csv.gz`` and fsync the folder;
5. record ``archived_at`` and ``archive_path`` on the announcement, delete its batches and drop its
   partition (``DETACH`` waits, at most ``LOCK_TIMEOUT``, for the transactions that use
   ``deliveries`` at that moment, and holds new ones back until the commit); commit.

A failure anywhere before the commit (the process killed, the disk full, the folder unwritable)
rolls the transaction back: the rows stay where they were, and a rerun writes the file again. The
counters stay on the announcement, so ``announce show`` still has them.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import os
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from sqlalchemy import delete, func, select, text, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from models import Announcement, Batch
from models.announcements import TERMINAL
from worker.broadcast import partitions
from worker.db import Database
from worker.report import write_outcomes

_AGE = re.compile(r"^\s*(\d+)\s*([dhw])\s*$")
_UNITS = {"h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}
# Later writers of an archived partition (a late receipt) wait at most this long, then retry.
LOCK_TIMEOUT = "10s"


class ArchiveError(Exception):
    """The archive could not be written or verified; nothing was dropped."""


@dataclass(frozen=True)
class Archived:
    announcement_id: uuid.UUID
    path: Path
    rows: int


def parse_age(value: str) -> timedelta:
    """``90d``, ``12h``, ``2w`` -> a timedelta (a clear error otherwise)."""
    match = _AGE.match(value)
    if match is None:
        raise ValueError(f"--older-than: {value!r} is not an age like 90d, 12h or 2w")
    return int(match.group(1)) * _UNITS[match.group(2)]


def due(session: Session, older_than: timedelta) -> list[uuid.UUID]:
    """Finished, not yet archived announcements that finished more than ``older_than`` ago."""
    return list(
        session.execute(
            select(Announcement.id)
            .where(
                Announcement.status.in_(TERMINAL),
                Announcement.archived_at.is_(None),
                Announcement.completed_at < func.now() - older_than,
            )
            .order_by(Announcement.completed_at, Announcement.id)
        ).scalars()
    )


def archive_due(db: Database, older_than: timedelta, out_dir: Path) -> Iterator[Archived]:
    """Archive every announcement ``due``, oldest first, yielding each as it is done."""
    with db.session() as session:
        ids = due(session, older_than)
    for announcement_id in ids:
        yield archive(db, announcement_id, out_dir)


class _HashingSink:
    """What the CSV writer writes: UTF-8 into the gzip stream, hashed on the way."""

    def __init__(self, target: gzip.GzipFile) -> None:
        self.target = target
        self.digest = hashlib.sha256()

    def write(self, text_: str, /) -> int:
        data = text_.encode("utf-8")
        self.digest.update(data)
        self.target.write(data)
        return len(text_)


def _read_back(path: Path) -> tuple[str, int]:
    """The decompressed file's SHA-256 and its number of CSV records (header excluded)."""
    digest = hashlib.sha256()
    with gzip.open(path, "rb") as raw:
        while chunk := raw.read(1 << 20):
            digest.update(chunk)
    with gzip.open(path, "rt", encoding="utf-8", newline="") as handle:
        records = sum(1 for _ in csv.reader(handle)) - 1
    return digest.hexdigest(), records


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_verified(session: Session, announcement_id: uuid.UUID, out_dir: Path) -> Archived:
    final = out_dir / f"{announcement_id}.csv.gz"
    part = out_dir / f".{announcement_id}.csv.gz.part"
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        with open(part, "wb") as raw:
            # mtime=0: the same rows always give the same bytes.
            with gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as packed:
                sink = _HashingSink(packed)
                rows = write_outcomes(session, announcement_id, sink)
            raw.flush()
            os.fsync(raw.fileno())
        digest, records = _read_back(part)
        if (digest, records) != (sink.digest.hexdigest(), rows):
            raise ArchiveError(
                f"{part}: read back {records} records (hash {digest[:12]}), wrote {rows} "
                f"(hash {sink.digest.hexdigest()[:12]}); nothing was dropped"
            )
        os.replace(part, final)
        _fsync_dir(out_dir)
    except (OSError, EOFError, gzip.BadGzipFile) as error:
        if part.parent.is_dir():
            part.unlink(missing_ok=True)
        reason = error.strerror if isinstance(error, OSError) and error.strerror else error
        raise ArchiveError(
            f"cannot archive announcement {announcement_id} to {out_dir}: {reason}; "
            "nothing was dropped"
        ) from error
    return Archived(announcement_id, final.resolve(), rows)


def archive(db: Database, announcement_id: uuid.UUID, out_dir: Path) -> Archived:
    """Write, verify and drop one announcement's per-recipient rows (see the module docstring)."""
    try:
        return _archive(db, announcement_id, out_dir)
    except OperationalError as error:
        # Dropping a partition waits for the transactions using ``deliveries``; one that holds on
        # longer than LOCK_TIMEOUT (or a lost connection) rolls everything back.
        raise ArchiveError(
            f"announcement {announcement_id}: the database was busy or went away "
            f"({type(error.orig).__name__}); nothing was dropped, run it again"
        ) from error


def _archive(db: Database, announcement_id: uuid.UUID, out_dir: Path) -> Archived:
    with db.session() as session:
        session.execute(text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"))
        row = session.execute(
            select(Announcement.archive_path)
            .where(Announcement.id == announcement_id, Announcement.status.in_(TERMINAL))
            .with_for_update()
        ).first()
        if row is None:
            raise ArchiveError(f"announcement {announcement_id} is not finished; not archived")
        if row.archive_path is not None:
            return Archived(announcement_id, Path(row.archive_path), 0)
        if partitions.exists(session, announcement_id):
            # Name from a parsed UUID (hex digits only).
            table = partitions.partition_name(announcement_id)
            session.execute(text(f"LOCK TABLE {table} IN SHARE MODE"))
        archived = _write_verified(session, announcement_id, out_dir)
        session.execute(
            update(Announcement)
            .where(Announcement.id == announcement_id)
            .values(archived_at=func.now(), archive_path=str(archived.path))
        )
        session.execute(delete(Batch).where(Batch.announcement_id == announcement_id))
        partitions.drop_partition(session, announcement_id)
    return archived
