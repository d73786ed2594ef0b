"""The audience: importing recipients in bulk, looking them up, unsubscribing them.

``import_recipients`` stores rows with one set-based ``INSERT … ON CONFLICT`` per chunk, all in
the caller's transaction: a fatal error (a database error, too many bad rows, Ctrl-C) rolls back
everything, so nothing is ever half-imported. Re-importing is safe: known users keep their
subscription status (a user who sent /stop stays unsubscribed) and only the fields a row gives
(tags, time zone) change. The CLI (``blazecast users``) and the Python API call these functions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import bindparam, func, select, text, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session
from sqlalchemy.types import Boolean, Text

from models import Recipient, RecipientStatus
from worker.recipient_files import (
    ImportAborted,
    RecipientRow,
    RowError,
    RowProblem,
    UserIdCheck,
    parse_user_id,
)

CHUNK_ROWS = 5_000
DEFAULT_MAX_ERRORS = 100
# Tags travel as one text per row joined by this character (Postgres cannot unnest ragged
# arrays); tags are checked to be printable, so it never occurs inside one.
_TAG_JOIN = "\x1f"

UPSERT = text(
    """
    WITH input AS (
        SELECT * FROM unnest(:user_ids, :tags, :has_tags, :zones)
            AS i(user_id, tags, has_tags, time_zone)
    ), inserted AS (
        INSERT INTO recipients (bot_id, user_id, tags, time_zone)
        SELECT :bot, user_id,
               CASE WHEN has_tags THEN string_to_array(tags, :sep)::varchar[]
                    ELSE '{}'::varchar[] END,
               time_zone
        FROM input
        ON CONFLICT (bot_id, user_id) DO NOTHING
        RETURNING id
    ), updated AS (
        -- Sees the table as it was before this statement: rows inserted above are not here.
        UPDATE recipients r
        SET tags = CASE WHEN i.has_tags THEN string_to_array(i.tags, :sep)::varchar[]
                        ELSE r.tags END,
            time_zone = coalesce(i.time_zone, r.time_zone),
            updated_at = now()
        FROM input i
        WHERE r.bot_id = :bot AND r.user_id = i.user_id
          AND ((i.has_tags AND r.tags IS DISTINCT FROM string_to_array(i.tags, :sep)::varchar[])
               OR (i.time_zone IS NOT NULL AND r.time_zone IS DISTINCT FROM i.time_zone))
        RETURNING r.id
    )
    SELECT (SELECT count(*) FROM inserted) AS inserted, (SELECT count(*) FROM updated) AS updated
    """
).bindparams(
    # Canonical text (``check_user_id``): a Mixin UUID as ``uuid::text`` gives it, so the
    # message ids computed from it in SQL are the same as when the column was a uuid.
    bindparam("user_ids", type_=ARRAY(Text)),
    bindparam("tags", type_=ARRAY(Text)),
    bindparam("has_tags", type_=ARRAY(Boolean)),
    bindparam("zones", type_=ARRAY(Text)),
)


class InvalidUserId(ValueError):
    """A user id given by the operator is not one of the bot's provider (the message says why)."""


class UnknownRecipients(LookupError):
    """User ids that are not recipients; the message lists a few of them."""

    def __init__(self, user_ids: Sequence[str]) -> None:
        shown = ", ".join(user_ids[:5]) + (" …" if len(user_ids) > 5 else "")
        super().__init__(f"{len(user_ids)} user id(s) are not recipients: {shown}")
        self.user_ids = list(user_ids)


@dataclass
class ImportReport:
    """What an import did. ``unchanged`` rows named users already stored exactly so."""

    rows: int = 0
    inserted: int = 0
    updated: int = 0
    duplicates: int = 0
    errors: list[RowError] = field(default_factory=list)

    @property
    def unchanged(self) -> int:
        return self.rows - self.duplicates - self.inserted - self.updated


def import_recipients(
    session: Session,
    rows: Iterable[RecipientRow | RowError],
    *,
    bot_id: int,
    max_errors: int = DEFAULT_MAX_ERRORS,
    strict: bool = False,
    chunk_rows: int = CHUNK_ROWS,
    on_chunk: Callable[[ImportReport], None] | None = None,
) -> ImportReport:
    """Store ``rows`` in the caller's transaction; bad rows are reported, not stored.

    Raises ``ImportAborted`` (and the caller must roll back) when more than ``max_errors`` rows
    are bad, or on the first bad row when ``strict``. Recipients belong to bot ``bot_id``. A user
    named twice takes the later row's values.
    """
    report = ImportReport()
    chunk: dict[str, RecipientRow] = {}
    for row in rows:
        if isinstance(row, RowError):
            report.errors.append(row)
            if strict or len(report.errors) > max_errors:
                raise ImportAborted(_abort_message(report, max_errors, strict))
            continue
        report.rows += 1
        if row.user_id in chunk:
            report.duplicates += 1
        chunk[row.user_id] = row
        if len(chunk) >= chunk_rows:
            _store(session, list(chunk.values()), bot_id, report)
            chunk.clear()
            if on_chunk is not None:
                on_chunk(report)
    if chunk:
        _store(session, list(chunk.values()), bot_id, report)
    if on_chunk is not None:
        on_chunk(report)
    return report


def _abort_message(report: ImportReport, max_errors: int, strict: bool) -> str:
    first = report.errors[0]
    if strict:
        return f"{first}; nothing was imported (strict mode stops at the first bad row)"
    return (
        f"more than {max_errors} bad rows (first: {first}); nothing was imported. "
        "Fix the file, or raise --max-errors"
    )


def _store(session: Session, rows: list[RecipientRow], bot_id: int, report: ImportReport) -> None:
    result = session.execute(
        UPSERT,
        {
            "bot": bot_id,
            "user_ids": [r.user_id for r in rows],
            "tags": [_TAG_JOIN.join(r.tags) if r.tags is not None else None for r in rows],
            "has_tags": [r.tags is not None for r in rows],
            "zones": [r.time_zone for r in rows],
            "sep": _TAG_JOIN,
        },
    ).one()
    report.inserted += int(result.inserted)
    report.updated += int(result.updated)


# --- looking up and changing recipients ---------------------------------------------------


def count_by_status(session: Session, bot_id: int | None = None) -> dict[RecipientStatus, int]:
    query = select(Recipient.status, func.count()).group_by(Recipient.status)
    if bot_id is not None:
        query = query.where(Recipient.bot_id == bot_id)
    rows = session.execute(query)
    counts = {status: 0 for status in RecipientStatus}
    counts.update({status: int(n) for status, n in rows})
    return counts


def list_recipients(
    session: Session,
    *,
    bot_id: int | None = None,
    status: RecipientStatus | None = None,
    tag: str | None = None,
    limit: int = 50,
    after_id: int = 0,
) -> tuple[list[Recipient], int]:
    """A page of recipients in import order (of one bot, or all), and how many match in all."""
    conditions = [Recipient.id > after_id]
    if bot_id is not None:
        conditions.append(Recipient.bot_id == bot_id)
    if status is not None:
        conditions.append(Recipient.status == status)
    if tag is not None:
        conditions.append(Recipient.tags.contains([tag]))
    page = session.execute(
        select(Recipient).where(*conditions).order_by(Recipient.id).limit(limit)
    ).scalars()
    total = session.execute(
        select(func.count()).select_from(Recipient).where(*conditions[1:])
    ).scalar_one()
    return list(page), int(total)


def get_recipient(session: Session, bot_id: int, user_id: str, check: UserIdCheck) -> Recipient:
    """Bot ``bot_id``'s recipient ``user_id`` (any form ``check``, the bot's provider's, accepts)."""
    key = _checked(user_id, check)
    found = session.execute(
        select(Recipient).where(Recipient.bot_id == bot_id, Recipient.user_id == key)
    ).scalar_one_or_none()
    if found is None:
        raise UnknownRecipients([str(user_id)])
    return found


def set_status(
    session: Session,
    bot_id: int,
    user_ids: Sequence[str],
    status: RecipientStatus,
    reason: str | None,
    check: UserIdCheck,
) -> int:
    """Set the status of these users, all or none: ``UnknownRecipients`` if any is not stored.

    Returns how many actually changed (users already in ``status`` are left as they are).
    """
    wanted = {_checked(u, check) for u in user_ids}
    known = set(
        session.execute(
            select(Recipient.user_id).where(
                Recipient.bot_id == bot_id, Recipient.user_id.in_(wanted)
            )
        ).scalars()
    )
    missing = sorted(wanted - known)
    if missing:
        raise UnknownRecipients(missing)
    changed = session.execute(
        update(Recipient)
        .where(
            Recipient.bot_id == bot_id,
            Recipient.user_id.in_(wanted),
            Recipient.status != status,
        )
        .values(status=status, status_reason=reason)
        .returning(Recipient.id)
    ).all()
    return len(changed)


def _checked(value: str, check: UserIdCheck) -> str:
    try:
        return parse_user_id(value, check)
    except RowProblem as problem:
        raise InvalidUserId(str(problem)) from None
