"""Recovery: find work whose worker died or whose Celery message was lost (DESIGN invariant 1).

Postgres is the truth and Redis queues are disposable. A leased batch whose lease expired (its
worker was killed) goes back to the queue; a queued batch whose message vanished (Redis flushed or
restarted) is published again. Publishing twice is harmless: ``send_batch`` leases with a
compare-and-set, so the second message finds nothing to do. Announcements whose last batch closed
without anyone noticing (a crash between two statements) are completed here.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from models import Announcement, AnnouncementStatus, Batch, BatchState
from worker.broadcast import state


def expired_leases(session: Session) -> list[int]:
    rows = session.execute(
        update(Batch)
        .where(Batch.state == BatchState.LEASED, Batch.lease_until < func.now())
        .values(state=BatchState.QUEUED, lease_until=None, leased_by=None, enqueued_at=func.now())
        .returning(Batch.id)
    )
    return list(rows.scalars())


def lost_messages(session: Session, *, older_than: timedelta) -> list[int]:
    """Queued batches that have waited longer than ``older_than``: their message may be gone."""
    rows = session.execute(
        update(Batch)
        .where(Batch.state == BatchState.QUEUED, Batch.enqueued_at < func.now() - older_than)
        .values(enqueued_at=func.now())
        .returning(Batch.id)
    )
    return list(rows.scalars())


def complete_finished(session: Session) -> list[uuid.UUID]:
    candidates = session.execute(
        select(Announcement.id).where(
            Announcement.status == AnnouncementStatus.SENDING, Announcement.planned.is_(True)
        )
    ).scalars()
    return [a for a in list(candidates) if state.complete_if_done(session, a)]


def close_abandoned(session: Session) -> int:
    """Batches left open under a cancelled or failed announcement (a send that was in flight at
    the cancel and then failed) are closed, their deliveries skipped."""
    abandoned = session.execute(
        select(Batch.announcement_id)
        .join(Announcement, Announcement.id == Batch.announcement_id)
        .where(
            Announcement.status.in_((AnnouncementStatus.CANCELLED, AnnouncementStatus.FAILED)),
            Batch.state.in_((BatchState.PENDING, BatchState.QUEUED, BatchState.RETRY)),
        )
        .distinct()
    ).scalars()
    return sum(
        state.close_idle_batches(session, announcement_id, reason="cancelled")
        for announcement_id in list(abandoned)
    )
