"""Recording what happened to a batch: each outcome is one set-based UPDATE (STYLE 11).

Progress is recorded only after the provider accepted a batch (DESIGN invariant 5). A delivery
counts as sent once ``sent_at`` is set; receipts may arrive before that (the provider is fast and
our UPDATE is not yet committed), so "sent" never overwrites a later state.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import case, func, select, update
from sqlalchemy.orm import Session

from models import (
    Announcement,
    Batch,
    BatchState,
    Delivery,
    DeliveryState,
    Recipient,
    RecipientStatus,
)

UNSENT = (DeliveryState.PENDING, DeliveryState.SENT, DeliveryState.DELIVERED, DeliveryState.READ)


@dataclass(frozen=True)
class Pending:
    """A delivery of the batch that still has to go out."""

    delivery_id: int
    message_id: uuid.UUID
    recipient_id: int
    user_id: uuid.UUID
    conversation_id: uuid.UUID | None
    recipient_status: RecipientStatus


def pending_deliveries(session: Session, batch_id: int) -> list[Pending]:
    """Deliveries of the batch not yet accepted by the provider (nor failed or skipped)."""
    rows = session.execute(
        select(
            Delivery.id,
            Delivery.message_id,
            Delivery.recipient_id,
            Recipient.user_id,
            Recipient.conversation_id,
            Recipient.status,
        )
        .join(Recipient, Recipient.id == Delivery.recipient_id)
        .where(
            Delivery.batch_id == batch_id,
            Delivery.sent_at.is_(None),
            Delivery.state.in_(UNSENT),
        )
        .order_by(Delivery.id)
    )
    return [Pending(*row) for row in rows]


def _bump(session: Session, announcement_id: uuid.UUID, **deltas: object) -> None:
    session.execute(update(Announcement).where(Announcement.id == announcement_id).values(**deltas))


def record_sent(session: Session, announcement_id: uuid.UUID, delivery_ids: Sequence[int]) -> int:
    """The provider accepted these deliveries: stamp them sent (once) and count them."""
    sent = session.execute(
        update(Delivery)
        .where(Delivery.id.in_(delivery_ids), Delivery.sent_at.is_(None))
        .values(
            sent_at=func.now(),
            attempts=Delivery.attempts + 1,
            last_error=None,
            state=case(
                (Delivery.state == DeliveryState.PENDING, DeliveryState.SENT.value),
                else_=Delivery.state,
            ),
        )
        .returning(Delivery.id)
    ).all()
    if sent:
        _bump(
            session,
            announcement_id,
            sent=Announcement.sent + len(sent),
            first_sent_at=func.coalesce(Announcement.first_sent_at, func.now()),
        )
    return len(sent)


def record_failed(
    session: Session, announcement_id: uuid.UUID, delivery_ids: Sequence[int], error: str
) -> int:
    """Give up on these deliveries with the reason."""
    failed = session.execute(
        update(Delivery)
        .where(Delivery.id.in_(delivery_ids), Delivery.state == DeliveryState.PENDING)
        .values(
            state=DeliveryState.FAILED,
            failed_at=func.now(),
            attempts=Delivery.attempts + 1,
            last_error=error[:500],
        )
        .returning(Delivery.id)
    ).all()
    if failed:
        _bump(session, announcement_id, failed=Announcement.failed + len(failed))
    return len(failed)


def record_skipped(
    session: Session, announcement_id: uuid.UUID, delivery_ids: Sequence[int], reason: str
) -> int:
    skipped = session.execute(
        update(Delivery)
        .where(Delivery.id.in_(delivery_ids), Delivery.state == DeliveryState.PENDING)
        .values(state=DeliveryState.SKIPPED, last_error=reason)
        .returning(Delivery.id)
    ).all()
    if skipped:
        _bump(session, announcement_id, skipped=Announcement.skipped + len(skipped))
    return len(skipped)


def mark_unreachable(session: Session, recipient_ids: Sequence[int], reason: str) -> None:
    """403: this user cannot be messaged; later announcements skip them."""
    session.execute(
        update(Recipient)
        .where(Recipient.id.in_(recipient_ids), Recipient.status == RecipientStatus.ACTIVE)
        .values(status=RecipientStatus.UNREACHABLE, status_reason=reason[:500])
    )


def release_batch(session: Session, batch_id: int, state: BatchState, **values: object) -> None:
    """Hand a leased batch back (to pending, retry, or a final state)."""
    if state in (BatchState.DONE, BatchState.FAILED, BatchState.CANCELLED):
        values.setdefault("finished_at", func.now())
    session.execute(
        update(Batch)
        .where(Batch.id == batch_id)
        .values(state=state, lease_until=None, leased_by=None, **values)
    )
