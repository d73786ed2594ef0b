"""Recording what happened to a batch: each outcome is one set-based statement (STYLE 11).

Progress is recorded only after the provider accepted a batch (DESIGN invariant 5). A delivery
counts as sent once ``sent_at`` is set; receipts may arrive before that (the provider is fast and
our UPDATE is not yet committed), so "sent" never overwrites a later state. Each outcome updates
the deliveries and the announcement's counter in the same statement (a data-modifying CTE), so
the counters can never drift from the rows between two statements.

These run once or more per batch, the hottest path there is: they are Core statements on a
``Connection``, with ids passed as one array parameter, not through the ORM.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    Connection,
    Table,
    Text,
    any_,
    bindparam,
    case,
    func,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY

from models import (
    Announcement,
    Batch,
    BatchState,
    Delivery,
    DeliveryState,
    Recipient,
    RecipientStatus,
)

deliveries = cast(Table, Delivery.__table__)
announcements = cast(Table, Announcement.__table__)
batches = cast(Table, Batch.__table__)
recipients = cast(Table, Recipient.__table__)

UNSENT = (DeliveryState.PENDING, DeliveryState.SENT, DeliveryState.DELIVERED, DeliveryState.READ)
CLOSED = (BatchState.DONE, BatchState.FAILED, BatchState.CANCELLED)


@dataclass(frozen=True)
class Pending:
    """A delivery of the batch that still has to go out; ids as the text the wire carries."""

    delivery_id: int
    message_id: str
    recipient_id: int
    user_id: str
    conversation_id: str | None
    recipient_status: RecipientStatus


def _ids(values: Sequence[int]) -> Any:
    return any_(bindparam("ids", list(values), type_=ARRAY(BigInteger)))


def pending_deliveries(conn: Connection, batch_id: int) -> list[Pending]:
    """Deliveries of the batch not yet accepted by the provider (nor failed or skipped)."""
    d, r = deliveries.c, recipients.c
    # UUIDs as text: they only go on the wire, and 300 uuid.UUID objects per batch cost more
    # than the rest of reading it.
    rows = conn.execute(
        select(
            d.id,
            d.message_id.cast(Text),
            d.recipient_id,
            r.user_id.cast(Text),
            r.conversation_id.cast(Text),
            r.status,
        )
        .join_from(deliveries, recipients, r.id == d.recipient_id)
        .where(d.batch_id == batch_id, d.sent_at.is_(None), d.state.in_(UNSENT))
        .order_by(d.id)
    )
    return [Pending(*row) for row in rows]


def _count_into(
    conn: Connection, changed: Any, announcement_id: uuid.UUID, counter: str, **extra: Any
) -> int:
    """Run the ``changed`` UPDATE … RETURNING as a CTE and add its row count to ``counter``."""
    cte = changed.cte(f"changed_{counter}")
    count = select(func.count()).select_from(cte).scalar_subquery()
    a = announcements.c
    result = conn.execute(
        update(announcements)
        .add_cte(cte)
        .where(a.id == announcement_id)
        .values({counter: a[counter] + count, **extra})
        .returning(count)
    )
    return int(result.scalar_one())


def record_sent(conn: Connection, announcement_id: uuid.UUID, delivery_ids: Sequence[int]) -> int:
    """The provider accepted these deliveries: stamp them sent (once) and count them."""
    d = deliveries.c
    changed = (
        update(deliveries)
        .where(d.id == _ids(delivery_ids), d.sent_at.is_(None))
        .values(
            sent_at=func.now(),
            attempts=d.attempts + 1,
            last_error=None,
            state=case((d.state == DeliveryState.PENDING, DeliveryState.SENT), else_=d.state),
        )
        .returning(d.id)
    )
    first = func.coalesce(announcements.c.first_sent_at, func.now())
    return _count_into(conn, changed, announcement_id, "sent", first_sent_at=first)


def record_failed(
    conn: Connection, announcement_id: uuid.UUID, delivery_ids: Sequence[int], error: str
) -> int:
    """Give up on these deliveries with the reason."""
    d = deliveries.c
    changed = (
        update(deliveries)
        .where(d.id == _ids(delivery_ids), d.state == DeliveryState.PENDING)
        .values(
            state=DeliveryState.FAILED,
            failed_at=func.now(),
            attempts=d.attempts + 1,
            last_error=error[:500],
        )
        .returning(d.id)
    )
    return _count_into(conn, changed, announcement_id, "failed")


def record_skipped(
    conn: Connection, announcement_id: uuid.UUID, delivery_ids: Sequence[int], reason: str
) -> int:
    d = deliveries.c
    changed = (
        update(deliveries)
        .where(d.id == _ids(delivery_ids), d.state == DeliveryState.PENDING)
        .values(state=DeliveryState.SKIPPED, last_error=reason)
        .returning(d.id)
    )
    return _count_into(conn, changed, announcement_id, "skipped")


def mark_unreachable(conn: Connection, recipient_ids: Sequence[int], reason: str) -> None:
    """403: this user cannot be messaged; later announcements skip them."""
    r = recipients.c
    conn.execute(
        update(recipients)
        .where(r.id == _ids(recipient_ids), r.status == RecipientStatus.ACTIVE)
        .values(status=RecipientStatus.UNREACHABLE, status_reason=reason[:500])
    )


def release_batch(conn: Connection, batch_id: int, state: BatchState, **values: Any) -> None:
    """Hand a leased batch back (to pending, retry, or a final state)."""
    if state in CLOSED:
        values.setdefault("finished_at", func.now())
    conn.execute(
        update(batches)
        .where(batches.c.id == batch_id)
        .values(state=state, lease_until=None, leased_by=None, **values)
    )

