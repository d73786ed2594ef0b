"""Operator actions on announcements: create, schedule, pause, resume, cancel, recall.

The CLI, the Python API and the tasks call these same functions. Each takes a session and leaves
committing to the caller, so an action and its consequences land together or not at all.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import String, func, insert, select, update
from sqlalchemy.orm import Session

from models import (
    Announcement,
    AnnouncementStatus,
    AudienceKind,
    AudienceMember,
    Batch,
    BatchState,
    Bot,
    Recipient,
)
from models.recipients import MAX_USER_ID_CHARS
from worker.broadcast import state
from worker.messaging.provider import Provider, UnsupportedCategory
from worker.timezones import load_zone, shown


class InvalidAnnouncement(ValueError):
    """Bad operator input; the message names the field."""


@dataclass(frozen=True)
class Audience:
    kind: AudienceKind = AudienceKind.ALL
    tags: tuple[str, ...] = ()
    user_ids: tuple[str, ...] = field(default=(), repr=False)

    @classmethod
    def everyone(cls) -> Audience:
        return cls(AudienceKind.ALL)

    @classmethod
    def with_tags(cls, tags: Sequence[str]) -> Audience:
        if not tags:
            raise InvalidAnnouncement("audience.tags: give at least one tag")
        return cls(AudienceKind.TAGS, tags=tuple(tags))

    @classmethod
    def users(cls, user_ids: Sequence[str]) -> Audience:
        if not user_ids:
            raise InvalidAnnouncement("audience.user_ids: give at least one user id")
        return cls(AudienceKind.LIST, user_ids=tuple(user_ids))


def resolve_time(at: datetime | str | None, time_zone: str) -> datetime | None:
    """A UTC instant from a time given in ``time_zone`` (naive or ISO text), or None for now."""
    zone = load_zone(time_zone) if isinstance(time_zone, str) else None
    if zone is None:
        raise InvalidAnnouncement(f"time_zone: unknown time zone {shown(time_zone)}")
    if at is None:
        return None
    if isinstance(at, str):
        try:
            at = datetime.fromisoformat(at)
        except ValueError:
            raise InvalidAnnouncement(
                f"at: {shown(at)} is not a date and time like 2026-12-01T09:00"
            ) from None
    if at.tzinfo is None:
        at = at.replace(tzinfo=zone)
    try:
        return at.astimezone(UTC)
    except (OverflowError, ValueError):
        # 9999-12-31 23:59 in New York is in year 10000 in UTC, which datetime cannot hold.
        raise InvalidAnnouncement(f"at: {at:%Y-%m-%d %H:%M} is out of range") from None


def check_lengths(**values: str | None) -> None:
    """Refuse text longer than its column, naming the field (Postgres would refuse it with the
    whole statement in the message)."""
    for name, value in values.items():
        column = "idempotency_key" if name == "key" else name
        limit = cast(String, Announcement.__table__.c[column].type).length
        if value is not None and limit is not None and len(value) > limit:
            raise InvalidAnnouncement(
                f"{name}: {len(value):,} characters, at most {limit} are allowed"
            )


def create_announcement(
    session: Session,
    *,
    bot_id: int,
    provider: Provider,
    category: str,
    content: str | dict[str, Any] | list[Any],
    audience: Audience | None = None,
    at: datetime | str | None = None,
    time_zone: str = "UTC",
    priority: int = 0,
    rate_per_minute: int | None = None,
    title: str = "",
    idempotency_key: str | None = None,
    schedule: bool = True,
    is_test: bool = False,
    endpoint: str | None = None,
) -> Announcement:
    """Validate and store an announcement; scheduled (for ``at``, or now) unless ``schedule=False``.

    With an ``idempotency_key`` the call is idempotent: the announcement stored under that key is
    returned, and nothing new is created.
    """
    check_lengths(title=title, key=idempotency_key, category=category)
    if idempotency_key is not None:
        existing = session.execute(
            select(Announcement).where(Announcement.idempotency_key == idempotency_key)
        ).scalar_one_or_none()
        if existing is not None:
            return existing
    if rate_per_minute is not None and rate_per_minute < 2:
        raise InvalidAnnouncement("rate_per_minute: must be at least 2 messages per minute")
    if not -100 <= priority <= 100:
        raise InvalidAnnouncement("priority: must be between -100 and 100")
    # The provider refuses a category it cannot carry and invalid content, naming the field.
    try:
        data = provider.encode_content(category, content, endpoint=endpoint)
    except UnsupportedCategory as error:
        bot = session.get(Bot, bot_id)
        raise UnsupportedCategory(f"bot {bot.name if bot else bot_id}: {error}") from None
    audience = audience or Audience.everyone()
    scheduled_at = resolve_time(at, time_zone)
    announcement = Announcement(
        id=uuid.uuid4(),
        bot_id=bot_id,
        idempotency_key=idempotency_key,
        title=title or _default_title(category, content),
        category=category,
        content=content,
        data_base64=data,
        audience_kind=audience.kind,
        audience_tags=list(audience.tags) or None,
        time_zone=time_zone,
        priority=priority,
        rate_per_minute=rate_per_minute,
        is_test=is_test,
        status=AnnouncementStatus.SCHEDULED if schedule else AnnouncementStatus.DRAFT,
        # "Now" is the database's clock, the one the beat tick compares against.
        scheduled_at=scheduled_at or (func.now() if schedule else None),
    )
    session.add(announcement)
    session.flush()
    if audience.kind is AudienceKind.LIST:
        _store_members(session, announcement, audience.user_ids, provider)
    return announcement


def _default_title(category: str, content: object) -> str:
    if isinstance(content, str):
        first_line = content.strip().splitlines()[0] if content.strip() else ""
        return first_line[:80]
    return category


def _store_members(
    session: Session, announcement: Announcement, user_ids: Sequence[str], provider: Provider
) -> None:
    wanted = []
    for index, raw in enumerate(user_ids, start=1):
        text = str(raw).strip()
        try:
            if len(text) > MAX_USER_ID_CHARS:  # bounded before the provider's message quotes it
                raise ValueError(f"{shown(raw)} is not a user id")
            wanted.append(provider.check_user_id(text))
        except ValueError as error:
            raise InvalidAnnouncement(f"audience.user_ids[{index}]: {error}") from None
    known = dict(
        session.execute(
            select(Recipient.user_id, Recipient.id).where(
                Recipient.bot_id == announcement.bot_id, Recipient.user_id.in_(wanted)
            )
        ).all()
    )
    unknown = [u for u in wanted if u not in known]
    if unknown:
        listed = ", ".join(unknown[:5]) + (" …" if len(unknown) > 5 else "")
        raise InvalidAnnouncement(
            f"audience.user_ids: {len(unknown)} not imported as recipients: {listed}"
        )
    rows = [{"announcement_id": announcement.id, "recipient_id": known[u]} for u in set(wanted)]
    session.execute(insert(AudienceMember), rows)


def schedule(session: Session, announcement_id: uuid.UUID, at: datetime | None = None) -> None:
    """Schedule a draft, or move a scheduled announcement to another time."""
    if state.transition(
        session,
        announcement_id,
        AnnouncementStatus.SCHEDULED,
        only_from=(AnnouncementStatus.SCHEDULED,),
        scheduled_at=at or func.now(),
    ):
        return
    state.change_status(
        session,
        announcement_id,
        AnnouncementStatus.SCHEDULED,
        scheduled_at=at or func.now(),
    )


def pause(session: Session, announcement_id: uuid.UUID, reason: str = "paused by operator") -> None:
    state.change_status(session, announcement_id, AnnouncementStatus.PAUSED, reason=reason)


def resume(session: Session, announcement_id: uuid.UUID) -> None:
    """Continue where it stopped; only unsent deliveries go out (resume never re-sends)."""
    announcement = _get(session, announcement_id)
    target = (
        AnnouncementStatus.SENDING
        if announcement.started_at is not None
        else AnnouncementStatus.SCHEDULED
    )
    state.change_status(session, announcement_id, target)
    session.execute(
        update(Batch)
        .where(Batch.announcement_id == announcement_id, Batch.state == BatchState.RETRY)
        .values(next_attempt_at=func.now())
    )
    # An operator resuming after a 401 has fixed the key or the clock.
    state.clear_bot_halt(session, announcement.bot_id)


def cancel(session: Session, announcement_id: uuid.UUID) -> None:
    """Stop for good: batches nobody is sending close and their deliveries are recorded as skipped.

    A batch being sent at this moment finishes (what the provider accepts is recorded as sent); if
    it fails, the reaper closes it too.
    """
    state.change_status(
        session, announcement_id, AnnouncementStatus.CANCELLED, reason="cancelled by operator"
    )
    state.close_idle_batches(session, announcement_id, reason="cancelled")


def recall(session: Session, announcement_id: uuid.UUID, *, priority: int = 10) -> Announcement:
    """Take an announcement back: a MESSAGE_RECALL to everyone it was sent to, under the quota."""
    original = _get(session, announcement_id)
    if original.recall_of is not None:
        raise InvalidAnnouncement("announcement: a recall cannot itself be recalled")
    if original.status in (
        AnnouncementStatus.SCHEDULED,
        AnnouncementStatus.SENDING,
        AnnouncementStatus.PAUSED,
    ):
        cancel(session, announcement_id)  # nobody else should receive what is being taken back
    existing = session.execute(
        select(Announcement).where(Announcement.idempotency_key == f"recall:{announcement_id}")
    ).scalar_one_or_none()
    if existing is not None:
        return existing
    recall_announcement = Announcement(
        id=uuid.uuid4(),
        bot_id=original.bot_id,
        idempotency_key=f"recall:{announcement_id}",
        title=f"recall of {original.title}"[:200],
        category="MESSAGE_RECALL",
        content={"recall_of": str(announcement_id)},
        data_base64=None,
        audience_kind=AudienceKind.RECALL,
        recall_of=announcement_id,
        priority=priority,
        status=AnnouncementStatus.SCHEDULED,
        scheduled_at=func.now(),
    )
    session.add(recall_announcement)
    session.flush()
    return recall_announcement


def _get(session: Session, announcement_id: uuid.UUID) -> Announcement:
    announcement = session.get(Announcement, announcement_id)
    if announcement is None:
        raise state.AnnouncementNotFound(announcement_id)
    return announcement
