"""Starting due announcements and feeding the send queue, a bounded amount at a time.

The beat tick calls these every second. Due work is found in Postgres (never Celery ETA). The send
queue holds at most ``high_water`` batches: the dispatcher tops it up in priority order, so a
higher-priority announcement overtakes the backlog of a lower one within one tick, and Redis never
holds a million messages. Functions here only change rows; the caller publishes the returned batch
ids after its transaction committed (STYLE 3: publish after commit).
"""

from __future__ import annotations

import uuid

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from models import Announcement, AnnouncementStatus, Batch, BatchState, Bot
from worker.broadcast import planner


def start_due(session: Session, *, limit: int = 50) -> list[uuid.UUID]:
    """Move due scheduled announcements to sending (compare-and-set: two beats cannot double-start)."""
    due = (
        select(Announcement.id)
        .where(
            Announcement.status == AnnouncementStatus.SCHEDULED,
            Announcement.scheduled_at <= func.now(),
        )
        .order_by(Announcement.priority.desc(), Announcement.scheduled_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    started = session.execute(
        update(Announcement)
        .where(Announcement.id.in_(due), Announcement.status == AnnouncementStatus.SCHEDULED)
        .values(
            status=AnnouncementStatus.SENDING,
            status_reason=None,
            started_at=func.coalesce(Announcement.started_at, func.now()),
        )
        .returning(Announcement.id)
    )
    return list(started.scalars())


def needing_plan(session: Session, *, plan_ahead: int) -> list[uuid.UUID]:
    """Announcements whose planning is unfinished, whose planner lease is free (or expired), and
    whose planned-but-unsent messages are fewer than ``plan_ahead`` (0: no such limit)."""
    query = select(Announcement.id).where(
        Announcement.status.in_((AnnouncementStatus.SENDING, AnnouncementStatus.PAUSED)),
        Announcement.planned.is_(False),
        (Announcement.plan_lease_until.is_(None)) | (Announcement.plan_lease_until < func.now()),
    )
    if plan_ahead:
        query = query.where(planner.unsent() < plan_ahead)
    return list(session.execute(query).scalars())


def queued_count(session: Session) -> int:
    return int(
        session.execute(
            select(func.count()).select_from(Batch).where(Batch.state == BatchState.QUEUED)
        ).scalar_one()
    )


def dispatch(session: Session, *, high_water: int) -> list[int]:
    """Mark up to ``high_water - queued`` ready batches as queued, in priority order; return their ids.

    Nothing is dispatched while a bot is halted (a 401 until an operator resumes).
    """
    room = high_water - queued_count(session)
    if room <= 0 or _any_bot_halted(session):
        return []
    ready = (
        select(Batch.id)
        .join(Announcement, Announcement.id == Batch.announcement_id)
        .where(
            Announcement.status == AnnouncementStatus.SENDING,
            (Batch.state == BatchState.PENDING)
            | ((Batch.state == BatchState.RETRY) & (Batch.next_attempt_at <= func.now())),
        )
        .order_by(Announcement.priority.desc(), Announcement.started_at, Batch.seq)
        .limit(room)
        .with_for_update(of=Batch, skip_locked=True)
    )
    ids = list(session.execute(ready).scalars())
    if ids:
        session.execute(
            update(Batch)
            .where(Batch.id.in_(ids))
            .values(state=BatchState.QUEUED, enqueued_at=func.now())
        )
    return ids


def announcements_of(session: Session, batch_ids: list[int]) -> dict[int, uuid.UUID]:
    """The announcement of each batch, for naming the batch's task."""
    rows = session.execute(
        select(Batch.id, Batch.announcement_id).where(Batch.id.in_(batch_ids))
    ).all()
    return {batch_id: announcement_id for batch_id, announcement_id in rows}


def _any_bot_halted(session: Session) -> bool:
    return (
        session.execute(select(Bot.id).where(Bot.halted_reason.is_not(None)).limit(1)).first()
        is not None
    )
