"""Applying DELIVERED / READ receipts: one set-based UPDATE per buffer, forward only.

Receipts carry only ``message_id``, ``status`` and ``updated_at`` (mixin-protocol.md §3.5). Deliveries
are partitioned by announcement, each partition with a unique index on ``message_id``; a buffer is
first looked up in the partitions of the announcements that can still expect receipts (not yet
finished, or finished less than ``RECEIPT_WINDOW_DAYS`` ago: small, hot indexes, the newest first),
and only the ids not found there in all the others (late READs, and receipts of messages that are not
deliveries, such as replies). Each announcement's receipts are then applied by one statement that
names it, so that it touches one partition. A receipt moves a delivery forward only
(pending < sent < delivered < read, DESIGN invariant 6): duplicates, READ before DELIVERED and
receipts for messages we do not know change nothing twice. READ implies DELIVERED. Rows are locked
in id order so that two recorders working on overlapping buffers cannot deadlock.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY, TIMESTAMP, UUID
from sqlalchemy.orm import Session
from sqlalchemy.types import Text

APPLY_RECEIPTS = text(
    """
    WITH incoming AS (
        SELECT r.message_id,
               bool_or(r.status = 'READ') AS is_read,
               min(r.at) AS first_at,
               min(r.at) FILTER (WHERE r.status = 'READ') AS read_at
        FROM unnest(:message_ids, :statuses, :ats) AS r(message_id, status, at)
        WHERE r.status IN ('DELIVERED', 'READ')
        GROUP BY r.message_id
    ), locked AS (
        SELECT d.id, d.delivered_at AS old_delivered, d.read_at AS old_read,
               i.is_read, i.first_at, i.read_at
        FROM deliveries d JOIN incoming i ON i.message_id = d.message_id
        WHERE d.announcement_id = :announcement AND d.state IN ('pending', 'sent', 'delivered')
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
          AND (l.old_delivered IS NULL OR (l.is_read AND l.old_read IS NULL))
        RETURNING d.announcement_id,
                  l.old_delivered IS NULL AS new_delivered,
                  l.is_read AND l.old_read IS NULL AS new_read
    ), per_announcement AS (
        SELECT announcement_id,
               count(*) FILTER (WHERE new_delivered) AS delivered,
               count(*) FILTER (WHERE new_read) AS read
        FROM changed GROUP BY announcement_id
    )
    UPDATE announcements a
    SET delivered = a.delivered + p.delivered, read = a.read + p.read
    FROM per_announcement p
    WHERE a.id = p.announcement_id
    RETURNING p.delivered, p.read
    """
).bindparams(
    bindparam("message_ids", type_=ARRAY(UUID(as_uuid=False))),
    bindparam("statuses", type_=ARRAY(Text)),
    bindparam("ats", type_=ARRAY(TIMESTAMP(timezone=True))),
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
    ORDER BY started_at DESC
    """
)


@dataclass(frozen=True)
class ReceiptsApplied:
    received: int
    newly_delivered: int
    newly_read: int


def find_announcements(session: Session, message_ids: Sequence[str]) -> dict[str, str]:
    """``message_id -> announcement_id`` of the deliveries these receipts are about (lowercase
    text); ids that are no delivery's are left out.

    The receiving announcements are searched one at a time, the latest started first, each for the
    ids not found yet: a buffer is nearly always about the newest broadcast, and is then looked up
    in that one partition however many others are still receiving.
    """
    rest = sorted(set(message_ids))
    found: dict[str, str] = {}
    for announcement_id in session.execute(RECEIVING, {"days": RECEIPT_WINDOW_DAYS}).scalars():
        if not rest:
            break
        found.update(
            session.execute(FIND_IN, {"announcement": announcement_id, "message_ids": rest}).all()
        )
        rest = [m for m in rest if m not in found]
    if rest:
        found.update(session.execute(FIND_ANYWHERE, {"message_ids": rest}).all())
    return found


def apply_receipts(
    session: Session, receipts: Sequence[tuple[str, str, datetime]]
) -> ReceiptsApplied:
    """Apply ``(message_id, status, updated_at)`` receipts; returns how many moved forward."""
    if not receipts:
        return ReceiptsApplied(0, 0, 0)
    receipts = [(str(m).lower(), status, at) for m, status, at in receipts]
    owners = find_announcements(session, [m for m, _, _ in receipts])
    per_announcement: dict[str, list[tuple[str, str, datetime]]] = {}
    for receipt in receipts:
        owner = owners.get(receipt[0])
        if owner is not None:
            per_announcement.setdefault(owner, []).append(receipt)
    delivered = read = 0
    # Announcements in a fixed order, rows in id order within each: two recorders with
    # overlapping buffers take their locks in the same order and cannot deadlock.
    for announcement_id in sorted(per_announcement):
        message_ids, statuses, ats = zip(*per_announcement[announcement_id], strict=True)
        rows = session.execute(
            APPLY_RECEIPTS,
            {
                "announcement": announcement_id,
                "message_ids": list(message_ids),
                "statuses": list(statuses),
                "ats": list(ats),
            },
        ).all()
        delivered += sum(r.delivered for r in rows)
        read += sum(r.read for r in rows)
    return ReceiptsApplied(len(receipts), delivered, read)
