"""Announcement status changes as compare-and-set UPDATEs, so that two processes never both win.

Every change goes through ``transition``: it moves the row only from a status that the transition table
(``models.announcements.TRANSITIONS``) allows, in one ``UPDATE … WHERE status IN (…)``. Operator
actions use ``change_status``, which also explains a refusal.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import bindparam, exists, func, insert, select, update
from sqlalchemy.orm import Session

from models import (
    OPEN_BATCH_STATES,
    Announcement,
    AnnouncementEvent,
    AnnouncementStatus,
    Batch,
    BatchState,
    Bot,
    Delivery,
    DeliveryState,
    IllegalTransition,
)
from models.announcements import TERMINAL, check_transition, sources_of
from worker.broadcast import reasons


class AnnouncementNotFound(LookupError):
    def __init__(self, announcement_id: object) -> None:
        super().__init__(f"no announcement with id {announcement_id}")


def transition(
    session: Session,
    announcement_id: uuid.UUID,
    target: AnnouncementStatus,
    *,
    reason: str | None = None,
    only_from: tuple[AnnouncementStatus, ...] | None = None,
    **values: Any,
) -> bool:
    """Move the announcement to ``target`` if its current status allows it; True if it moved."""
    sources = only_from or sources_of(target)
    moved = session.execute(
        update(Announcement)
        .where(Announcement.id == announcement_id, Announcement.status.in_(sources))
        .values(status=target, status_reason=reason, **values)
        .returning(Announcement.id)
    ).first()
    if moved is not None:
        record_events(session, [announcement_id], target, reason)
    return moved is not None


def record_events(
    session: Session,
    announcement_ids: Sequence[uuid.UUID],
    status: AnnouncementStatus,
    reason: str | None = None,
) -> None:
    """Remember that these announcements moved to ``status`` now (the report marks it)."""
    if announcement_ids:
        session.execute(
            insert(AnnouncementEvent),
            [{"announcement_id": a, "status": status, "reason": reason} for a in announcement_ids],
        )


def change_status(
    session: Session, announcement_id: uuid.UUID, target: AnnouncementStatus, **kwargs: Any
) -> None:
    """An operator's change: raise IllegalTransition naming both statuses when it is not allowed."""
    current = session.execute(
        select(Announcement.status).where(Announcement.id == announcement_id).with_for_update()
    ).scalar_one_or_none()
    if current is None:
        raise AnnouncementNotFound(announcement_id)
    if current == target:
        return
    check_transition(current, target)
    if not transition(session, announcement_id, target, **kwargs):
        raise IllegalTransition(f"announcement {announcement_id} changed status meanwhile")


def has_open_batches(session: Session, announcement_id: uuid.UUID) -> bool:
    return bool(
        session.execute(
            select(
                exists().where(
                    Batch.announcement_id == announcement_id, Batch.state.in_(OPEN_BATCH_STATES)
                )
            )
        ).scalar_one()
    )


def recount(session: Session, announcement_id: uuid.UUID) -> None:
    """Recompute the progress counters exactly from the deliveries (at completion, or on demand).

    The announcement row is locked *before* counting. Senders and receipt recorders update the
    deliveries and this row's counters in one statement each: one that committed before the lock is
    in the count (the counting statement's snapshot is taken after the lock is granted), and one
    still running waits for this transaction and then adds to the recounted value. Counting first
    would let a concurrent increment be overwritten by a stale count.
    """
    session.execute(
        select(Announcement.id).where(Announcement.id == announcement_id).with_for_update()
    )
    d = Delivery
    counts = session.execute(
        select(
            func.count().filter(d.sent_at.is_not(None)),
            func.count().filter(d.delivered_at.is_not(None)),
            func.count().filter(d.read_at.is_not(None)),
            func.count().filter(d.state == DeliveryState.FAILED),
            func.count().filter(d.state == DeliveryState.SKIPPED),
            func.count().filter(d.state == DeliveryState.UNKNOWN),
            func.count(),
        ).where(d.announcement_id == announcement_id)
    ).one()
    sent, delivered, read, failed, skipped, unknown, total = counts
    session.execute(
        update(Announcement)
        .where(Announcement.id == announcement_id)
        .values(
            sent=sent,
            delivered=delivered,
            read=read,
            failed=failed,
            skipped=skipped,
            unknown=unknown,
            total=total,
        )
    )


# Built once with a bind parameter: the sender asks after every batch, and building the
# statement (and its cache key) each time cost about as much as running it.
_ANNOUNCEMENT_ID = bindparam("announcement", type_=Announcement.__table__.c.id.type)
_COMPLETABLE = select(Announcement.id).where(
    Announcement.id == _ANNOUNCEMENT_ID,
    Announcement.planned.is_(True),
    Announcement.status == AnnouncementStatus.SENDING,
    ~exists().where(Batch.announcement_id == _ANNOUNCEMENT_ID, Batch.state.in_(OPEN_BATCH_STATES)),
)


def complete_if_done(session: Session, announcement_id: uuid.UUID) -> bool:
    """Complete a fully planned announcement that has no open batch left; True if it completed."""
    completable = session.execute(_COMPLETABLE, {"announcement": announcement_id}).first()
    if completable is None:
        return False
    recount(session, announcement_id)
    return transition(
        session, announcement_id, AnnouncementStatus.COMPLETED, completed_at=func.now()
    )


def close_idle_batches(session: Session, announcement_id: uuid.UUID, *, reason: str) -> int:
    """Close the announcement's batches that no worker holds; their unsent deliveries become
    skipped with ``reason``, and the counters are recounted. Returns how many batches closed."""
    closed = list(
        session.execute(
            update(Batch)
            .where(
                Batch.announcement_id == announcement_id,
                Batch.state.in_((BatchState.PENDING, BatchState.QUEUED, BatchState.RETRY)),
            )
            .values(state=BatchState.CANCELLED, finished_at=func.now())
            .returning(Batch.id)
        ).scalars()
    )
    reason_id, detail = reasons.store(session.connection(), reason)
    session.execute(
        update(Delivery)
        .where(
            Delivery.announcement_id == announcement_id,
            Delivery.state == DeliveryState.PENDING,
            (Delivery.batch_id.in_(closed)) | (Delivery.batch_id.is_(None)),
        )
        .values(state=DeliveryState.SKIPPED, reason_id=reason_id, reason_detail=detail)
    )
    recount(session, announcement_id)
    return len(closed)


def halt_bot(session: Session, bot_id: int, reason: str) -> None:
    """The provider rejected the bot's key (401): stop all of this bot's sending and say why
    (resuming one of its announcements clears it)."""
    session.execute(
        update(Bot).where(Bot.id == bot_id).values(halted_reason=reason, halted_at=func.now())
    )
    paused = session.execute(
        update(Announcement)
        .where(Announcement.bot_id == bot_id, Announcement.status == AnnouncementStatus.SENDING)
        .values(status=AnnouncementStatus.PAUSED, status_reason=f"bot halted: {reason}")
        .returning(Announcement.id)
    ).scalars()
    record_events(session, list(paused), AnnouncementStatus.PAUSED, f"bot halted: {reason}")


def bot_halted_reason(session: Session, bot_id: int) -> str | None:
    return session.execute(select(Bot.halted_reason).where(Bot.id == bot_id)).scalar_one_or_none()


def clear_bot_halt(session: Session, bot_id: int) -> None:
    session.execute(update(Bot).where(Bot.id == bot_id).values(halted_reason=None, halted_at=None))


def is_terminal(status: AnnouncementStatus) -> bool:
    return status in TERMINAL
