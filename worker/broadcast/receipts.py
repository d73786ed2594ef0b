"""Applying DELIVERED / READ receipts: one set-based UPDATE per buffer, forward only.

Receipts carry only ``message_id``, ``status`` and ``updated_at`` (mixin-protocol.md §3.5); the unique
index on ``deliveries.message_id`` maps them back. A receipt moves a delivery forward only
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
        WHERE d.state IN ('pending', 'sent', 'delivered')
        ORDER BY d.id
        FOR UPDATE OF d
    ), changed AS (
        UPDATE deliveries d
        SET delivered_at = coalesce(d.delivered_at, l.first_at),
            read_at = CASE WHEN l.is_read THEN coalesce(d.read_at, l.read_at) ELSE d.read_at END,
            state = CASE WHEN l.is_read THEN 'read'::delivery_state
                         ELSE 'delivered'::delivery_state END
        FROM locked l
        WHERE d.id = l.id AND (l.old_delivered IS NULL OR (l.is_read AND l.old_read IS NULL))
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
)


@dataclass(frozen=True)
class ReceiptsApplied:
    received: int
    newly_delivered: int
    newly_read: int


def apply_receipts(
    session: Session, receipts: Sequence[tuple[str, str, datetime]]
) -> ReceiptsApplied:
    """Apply ``(message_id, status, updated_at)`` receipts; returns how many moved forward."""
    if not receipts:
        return ReceiptsApplied(0, 0, 0)
    message_ids, statuses, ats = zip(*receipts, strict=True)
    rows = session.execute(
        APPLY_RECEIPTS,
        {"message_ids": list(message_ids), "statuses": list(statuses), "ats": list(ats)},
    ).all()
    return ReceiptsApplied(len(receipts), sum(r.delivered for r in rows), sum(r.read for r in rows))
