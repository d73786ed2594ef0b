"""Applying DELIVERED / READ receipts: one set-based UPDATE per buffer, forward only.

Receipts carry only ``message_id``, ``status`` and ``updated_at`` (mixin-protocol.md §3.5). Deliveries
are partitioned by announcement, each partition with a unique index on ``message_id``; a buffer is
first applied to the latest started announcement, by one statement that names it (so that it
touches one partition) and also returns the ids that partition does not hold. Only those are looked
up, in the partitions of the other announcements that can still expect receipts (not yet finished,
or finished less than ``RECEIPT_WINDOW_DAYS`` ago: small, hot indexes, the newest first), then in
all the others (late READs, and receipts of messages that are not deliveries, such as replies), and
applied the same way, one statement per announcement. A receipt moves a delivery forward only
(pending < sent < delivered < read, DESIGN invariant 6): duplicates, READ before DELIVERED and
receipts for messages we do not know change nothing twice. READ implies DELIVERED. Rows are locked
in id order so that two recorders working on overlapping buffers cannot deadlock.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlalchemy.orm import Session
from sqlalchemy.types import Text

APPLY_RECEIPTS = text(
    """
    WITH incoming AS (
        SELECT r.message_id,
               bool_or(r.status = 'READ') AS is_read,
               min(r.at) AS first_at,
               min(r.at) FILTER (WHERE r.status = 'READ') AS read_at
        FROM unnest(
            CAST(string_to_array(:message_ids, ',') AS uuid[]),
            string_to_array(:statuses, ','),
            CAST(string_to_array(:ats, ',') AS timestamptz[])
        ) AS r(message_id, status, at)
        WHERE r.status IN ('DELIVERED', 'READ')
        GROUP BY r.message_id
    ), locked AS (
        -- Every delivery of the announcement that a receipt names, whatever its state: what is
        -- not found here is reported back (``missing``) to be looked for in other partitions.
        SELECT d.id, d.message_id, d.state AS old_state, d.delivered_at AS old_delivered,
               d.read_at AS old_read, i.is_read, i.first_at, i.read_at
        FROM deliveries d JOIN incoming i ON i.message_id = d.message_id
        WHERE d.announcement_id = :announcement
        ORDER BY d.id
        FOR UPDATE OF d
    ), changed AS (
        UPDATE deliveries d
        SET delivered_at = coalesce(d.delivered_at, l.first_at),
            read_at = CASE WHEN l.is_read THEN coalesce(d.read_at, l.read_at) ELSE d.read_at END,
            state = CASE WHEN l.is_read THEN 'read'::delivery_state
                         ELSE 'delivered'::delivery_state END
        FROM locked l
        WHERE d.announcement_id = :announcement AND d.id = l.id
          AND l.old_state IN ('pending', 'sent', 'delivered')
          AND (l.old_delivered IS NULL OR (l.is_read AND l.old_read IS NULL))
        RETURNING d.announcement_id,
                  l.old_delivered IS NULL AS new_delivered,
                  l.is_read AND l.old_read IS NULL AS new_read
    ), per_announcement AS (
        SELECT announcement_id,
               count(*) FILTER (WHERE new_delivered) AS delivered,
               count(*) FILTER (WHERE new_read) AS read
        FROM changed GROUP BY announcement_id
    ), bumped AS (
        UPDATE announcements a
        SET delivered = a.delivered + p.delivered, read = a.read + p.read
        FROM per_announcement p
        WHERE a.id = p.announcement_id
        RETURNING p.delivered, p.read
    )
    SELECT coalesce((SELECT sum(delivered) FROM bumped), 0) AS delivered,
           coalesce((SELECT sum(read) FROM bumped), 0) AS read,
           ARRAY(
               SELECT message_id::text FROM incoming
               EXCEPT SELECT message_id::text FROM locked
           ) AS missing
    """
).bindparams(
    # Each list as one comma-separated text: psycopg2 adapts it at once, where an array
    # parameter costs an adaptation per element (most of a recorder's CPU).
    bindparam("message_ids", type_=Text),
    bindparam("statuses", type_=Text),
    bindparam("ats", type_=Text),
    bindparam("announcement", type_=UUID(as_uuid=False)),
)

# Announcements whose partitions are searched first. A message's READ can come days after it was
# sent; one that comes later still is found by the second, unrestricted lookup.
RECEIPT_WINDOW_DAYS = 3

FIND_IN = text(
    """
    SELECT d.message_id::text, d.announcement_id::text
    FROM deliveries d
    WHERE d.announcement_id = :announcement AND d.message_id = ANY(:message_ids)
    """
).bindparams(
    bindparam("announcement", type_=UUID(as_uuid=False)),
    bindparam("message_ids", type_=ARRAY(UUID(as_uuid=False))),
)

FIND_ANYWHERE = text(
    """
    SELECT d.message_id::text, d.announcement_id::text
    FROM deliveries d
    WHERE d.message_id = ANY(:message_ids)
    """
).bindparams(bindparam("message_ids", type_=ARRAY(UUID(as_uuid=False))))

RECEIVING = text(
    """
    SELECT id::text FROM announcements
    WHERE started_at IS NOT NULL
      AND (completed_at IS NULL OR completed_at > now() - make_interval(days => :days))
    ORDER BY started_at DESC, id
    """
)


#: ``(message_id, status, updated_at)``; the time as a datetime or as ISO 8601 text (the journal's).
Receipt = tuple[str, str, datetime | str]


@dataclass(frozen=True)
class ReceiptsApplied:
    received: int
    newly_delivered: int
    newly_read: int


def find_announcements(session: Session, message_ids: Sequence[str]) -> dict[str, str]:
    """``message_id -> announcement_id`` of the deliveries these receipts are about (lowercase
    text); ids that are no delivery's are left out.

    The receiving announcements are searched one at a time, the latest started first, each for the
    ids not found yet; then every other announcement for those still missing.
    """
    return _find(session, message_ids, _receiving(session))


def _receiving(session: Session) -> list[str]:
    return list(session.execute(RECEIVING, {"days": RECEIPT_WINDOW_DAYS}).scalars())


def _find(session: Session, message_ids: Sequence[str], receiving: Sequence[str]) -> dict[str, str]:
    rest = sorted(set(message_ids))
    found: dict[str, str] = {}
    for announcement_id in receiving:
        if not rest:
            break
        found.update(
            session.execute(FIND_IN, {"announcement": announcement_id, "message_ids": rest}).all()
        )
        rest = [m for m in rest if m not in found]
    if rest:
        found.update(session.execute(FIND_ANYWHERE, {"message_ids": rest}).all())
    return found


def apply_receipts(session: Session, receipts: Sequence[Receipt]) -> ReceiptsApplied:
    """Apply ``(message_id, status, updated_at)`` receipts; returns how many moved forward.

    A buffer is nearly always about the newest broadcast: it is applied to the latest started
    announcement first, in one statement that also says which receipts that partition does not
    hold; only those are looked up elsewhere (``find_announcements``) and applied to their
    announcements, in id order. Every recorder takes its locks in the same order (that newest
    announcement, then the others by id), so two with overlapping buffers cannot deadlock: a
    buffer read before an announcement started holds no receipt of it.
    """
    if not receipts:
        return ReceiptsApplied(0, 0, 0)
    receiving = _receiving(session)
    delivered = read = 0
    wanted: set[str] | None = None
    if receiving:
        delivered, read, missing = _apply_to(session, receiving[0], receipts)
        if not missing:
            return ReceiptsApplied(len(receipts), delivered, read)
        wanted, receiving = set(missing), receiving[1:]
    # Ids as Postgres writes them (lowercase), to match what the look-ups return.
    rest = [(m.lower(), status, at) for m, status, at in receipts]
    if wanted is not None:
        rest = [r for r in rest if r[0] in wanted]
    owners = _find(session, [m for m, _, _ in rest], receiving)
    per_announcement: dict[str, list[Receipt]] = {}
    for receipt in rest:
        owner = owners.get(receipt[0])
        if owner is not None:
            per_announcement.setdefault(owner, []).append(receipt)
    # Announcements in a fixed order, rows in id order within each: two recorders with
    # overlapping buffers take their locks in the same order and cannot deadlock.
    for announcement_id in sorted(per_announcement):
        more_delivered, more_read, _ = _apply_to(
            session, announcement_id, per_announcement[announcement_id]
        )
        delivered, read = delivered + more_delivered, read + more_read
    return ReceiptsApplied(len(receipts), delivered, read)


def apply_parameters(announcement_id: str, receipts: Sequence[Receipt]) -> dict[str, str]:
    """The parameters of ``APPLY_RECEIPTS`` for ``receipts``: each list as one comma-separated
    text, the ids lowercase."""
    return {
        "announcement": announcement_id,
        "message_ids": ",".join(m for m, _, _ in receipts).lower(),
        "statuses": ",".join(status for _, status, _ in receipts),
        "ats": ",".join(at if isinstance(at, str) else at.isoformat() for _, _, at in receipts),
    }


def _apply_to(
    session: Session, announcement_id: str, receipts: Sequence[Receipt]
) -> tuple[int, int, list[str]]:
    """Apply ``receipts`` to the announcement's deliveries: (newly delivered, newly read, the
    message ids that are none of its deliveries)."""
    values = apply_parameters(announcement_id, receipts)
    if any(values[k].count(",") != len(receipts) - 1 for k in ("message_ids", "statuses", "ats")):
        # A comma inside a field would shift the lists against each other: such a receipt is
        # no receipt (ids are UUIDs, times ISO 8601), and is dropped rather than misapplied.
        receipts = [r for r in receipts if not any("," in str(field) for field in r)]
        if not receipts:
            return 0, 0, []
        values = apply_parameters(announcement_id, receipts)
    delivered, read, missing = session.execute(APPLY_RECEIPTS, values).one()
    return int(delivered), int(read), list(missing)
