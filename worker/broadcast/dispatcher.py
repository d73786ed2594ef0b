"""Starting due announcements and feeding the send queue, a bounded amount at a time.

The beat tick calls these every second. Due work is found in Postgres (never Celery ETA). The send
queue holds at most ``high_water`` batches, and of each bot and each capped announcement no more
than a few seconds of its rate (``Pace``): the dispatcher tops it up in priority order, round robin
between announcements of equal priority, so a higher-priority announcement overtakes the backlog
of a lower one within one tick, a throttled bot never crowds out another, and Redis never holds a
million messages. Functions here only change rows; the caller publishes the returned batch
ids after its transaction committed (STYLE 3: publish after commit).
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from models import Announcement, AnnouncementStatus, Batch, BatchState, Bot, BotProvider
from worker.broadcast import planner, state

# Each bot and each capped announcement has at most this many seconds of its rate in flight.
DISPATCH_AHEAD_SECONDS = 3.0


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
    ids = list(started.scalars())
    state.record_events(session, ids, AnnouncementStatus.SENDING)
    return ids


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


def in_flight(session: Session) -> dict[uuid.UUID, tuple[int, int]]:
    """Batches queued or leased, per announcement: ``{announcement: (bot, count)}``."""
    rows = session.execute(
        select(Batch.announcement_id, Announcement.bot_id, func.count())
        .join(Announcement, Announcement.id == Batch.announcement_id)
        .where(Batch.state.in_((BatchState.QUEUED, BatchState.LEASED)))
        .group_by(Batch.announcement_id, Announcement.bot_id)
    ).all()
    return {announcement: (bot, count) for announcement, bot, count in rows}


@dataclass(frozen=True)
class Pace:
    """How much may be in flight: ``ahead_seconds`` of each bot's quota and each cap, in batches.

    The send queue never holds more of one bot's or one announcement's work than its tokens will
    pay for soon, so a bot at its quota or a capped announcement can never fill the queue and hold
    up anything else; and never more than ``high_water`` batches in all.
    """

    high_water: int
    default_quota: int
    window_seconds: float = 60.0
    batch_size: int = 100
    ahead_seconds: float = DISPATCH_AHEAD_SECONDS

    def batches_for(self, per_window: int, *, per_batch: int | None = None) -> int:
        """Batches that ``per_window`` pays for in ``ahead_seconds``, each costing ``per_batch``
        of it (a whole batch of messages by default; one for a quota that counts requests)."""
        per_second = per_window / self.window_seconds
        return math.ceil(per_second * self.ahead_seconds / (per_batch or self.batch_size)) + 1


def dispatch(session: Session, pace: Pace) -> list[int]:
    """Mark ready batches as queued, within ``pace``; return their ids.

    Order: higher priority first; among announcements of equal priority, round robin (every
    announcement's next batch before anyone's second), so that each gets a fair share of its
    bot. Nothing is dispatched for a halted (401) or disabled bot.
    """
    flying = in_flight(session)
    room = pace.high_water - sum(count for _, count in flying.values())
    if room <= 0:
        return []
    bot_flying: dict[int, int] = {}
    for bot, count in flying.values():
        bot_flying[bot] = bot_flying.get(bot, 0) + count
    rank = (
        func.row_number().over(partition_by=Batch.announcement_id, order_by=Batch.seq).label("rank")
    )
    ready = (
        select(
            Batch.id,
            Batch.announcement_id,
            Announcement.bot_id,
            Announcement.rate_per_minute,
            func.coalesce(Bot.quota_per_minute, pace.default_quota).label("quota"),
            Bot.provider,
            Announcement.priority,
            Announcement.started_at,
            rank,
        )
        .join(Announcement, Announcement.id == Batch.announcement_id)
        .join(Bot, Bot.id == Announcement.bot_id)
        .where(
            Announcement.status == AnnouncementStatus.SENDING,
            Bot.halted_reason.is_(None),
            Bot.disabled_at.is_(None),
            (Batch.state == BatchState.PENDING)
            | ((Batch.state == BatchState.RETRY) & (Batch.next_attempt_at <= func.now())),
        )
        .subquery()
    )
    candidates = session.execute(
        select(ready)
        .where(ready.c.rank <= room)
        .order_by(ready.c.priority.desc(), ready.c.rank, ready.c.started_at, ready.c.id)
    ).all()
    chosen: list[int] = []
    for row in candidates:
        if len(chosen) >= room:
            break
        per_batch = 1 if BotProvider(row.provider).quota_counts_requests else None
        if bot_flying.get(row.bot_id, 0) >= pace.batches_for(row.quota, per_batch=per_batch):
            continue
        if row.rate_per_minute:
            _, count = flying.get(row.announcement_id, (row.bot_id, 0))
            if count >= pace.batches_for(row.rate_per_minute):
                continue
            flying[row.announcement_id] = (row.bot_id, count + 1)
        bot_flying[row.bot_id] = bot_flying.get(row.bot_id, 0) + 1
        chosen.append(row.id)
    if not chosen:
        return []
    # Only batches still ready: another dispatcher may have queued some since they were read.
    queued = session.execute(
        update(Batch)
        .where(
            Batch.id.in_(chosen),
            Batch.state.in_((BatchState.PENDING, BatchState.RETRY)),
        )
        .values(state=BatchState.QUEUED, enqueued_at=func.now())
        .returning(Batch.id)
    )
    order = {batch_id: i for i, batch_id in enumerate(chosen)}
    return sorted(queued.scalars(), key=order.__getitem__)


def owners_of(session: Session, batch_ids: Sequence[int]) -> dict[int, tuple[uuid.UUID, int]]:
    """The announcement and bot of each batch, for naming the batch's task."""
    rows = session.execute(
        select(Batch.id, Batch.announcement_id, Announcement.bot_id)
        .join(Announcement, Announcement.id == Batch.announcement_id)
        .where(Batch.id.in_(batch_ids))
    ).all()
    return {batch_id: (announcement_id, bot_id) for batch_id, announcement_id, bot_id in rows}
