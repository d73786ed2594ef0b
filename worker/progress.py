"""What operators read about announcements: snapshots, failures by reason, time estimates.

Read-only views shared by the CLI, the Python API, the demo and the metrics exporter, so that
every one of them shows the same numbers. Nothing here changes a row.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import String, cast, func, select
from sqlalchemy.orm import Session, object_session

from models import (
    Announcement,
    AnnouncementStatus,
    AudienceKind,
    Batch,
    BatchState,
    BotProvider,
    Delivery,
    DeliveryReason,
    DeliveryState,
    Recipient,
    RecipientStatus,
)
from models.announcements import TERMINAL
from worker.broadcast.planner import audience_clause
from worker.broadcast.state import AnnouncementNotFound
from worker.config import Settings
from worker.estimates import StatusEstimates, status_estimates
from worker.ratelimit import cap_spec, quota_spec
from worker.timezones import shown

_ID_PREFIX = re.compile(r"^[0-9a-fA-F-]{4,36}$")


class AmbiguousId(LookupError):
    """An id prefix that matches several announcements."""


@dataclass(frozen=True)
class AnnouncementInfo:
    """A snapshot of one announcement: what it is, where it stands, and its counters."""

    id: uuid.UUID
    bot: str
    title: str
    category: str
    status: AnnouncementStatus
    status_reason: str | None
    audience: str
    is_test: bool
    priority: int
    rate_per_minute: int | None
    planned: bool
    total: int
    sent: int
    delivered: int
    read: int
    failed: int
    skipped: int
    # Recipients whose fate is unknown: the provider may or may not have executed the request,
    # and it could no longer be retried safely (IM REST past its retry horizon). Never "sent".
    unknown: int
    created_at: datetime
    scheduled_at: datetime | None
    started_at: datetime | None
    first_sent_at: datetime | None
    completed_at: datetime | None
    # Delivered and read rates estimated from a polled sample (IM REST audiences above the
    # bot's sampling threshold): ``delivered`` and ``read`` then count the sample only.
    estimates: StatusEstimates | None = None

    @property
    def finished(self) -> int:
        """Messages that will not be sent again: sent, failed, skipped or of unknown fate."""
        return self.sent + self.failed + self.skipped + self.unknown

    @property
    def remaining(self) -> int:
        return max(self.total - self.finished, 0)

    @property
    def is_over(self) -> bool:
        return self.status in TERMINAL

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        for key, value in data.items():
            if isinstance(value, uuid.UUID | datetime):
                data[key] = value.isoformat() if isinstance(value, datetime) else str(value)
        data["status"] = self.status.value
        data["estimates"] = self.estimates.to_json() if self.estimates is not None else None
        return data


def info_of(announcement: Announcement) -> AnnouncementInfo:
    return AnnouncementInfo(
        id=announcement.id,
        bot=announcement.bot.name,
        title=announcement.title,
        category=announcement.category,
        status=announcement.status,
        status_reason=announcement.status_reason,
        audience=describe_audience(announcement),
        is_test=announcement.is_test,
        priority=announcement.priority,
        rate_per_minute=announcement.rate_per_minute,
        planned=announcement.planned,
        total=announcement.total,
        sent=announcement.sent,
        delivered=announcement.delivered,
        read=announcement.read,
        failed=announcement.failed,
        skipped=announcement.skipped,
        unknown=announcement.unknown,
        created_at=announcement.created_at,
        scheduled_at=announcement.scheduled_at,
        started_at=announcement.started_at,
        first_sent_at=announcement.first_sent_at,
        completed_at=announcement.completed_at,
        estimates=_estimates(announcement),
    )


def _estimates(announcement: Announcement) -> StatusEstimates | None:
    """Only announcements whose statuses are polled can have a sample."""
    session = object_session(announcement)
    if session is None or announcement.bot.provider != BotProvider.IMREST:
        return None
    if announcement.recall_of is not None:
        return None
    return status_estimates(
        session, announcement.id, sent=announcement.sent, total=announcement.total
    )


def describe_audience(announcement: Announcement) -> str:
    kind = announcement.audience_kind
    if kind is AudienceKind.TAGS:
        return "tags: " + ", ".join(announcement.audience_tags or [])
    if kind is AudienceKind.RECALL:
        return f"recall of {announcement.recall_of}"
    if kind is AudienceKind.LIST:
        return "listed users"
    return "everyone"


def get_info(session: Session, announcement_id: uuid.UUID) -> AnnouncementInfo:
    announcement = session.get(Announcement, announcement_id, populate_existing=True)
    if announcement is None:
        raise AnnouncementNotFound(announcement_id)
    return info_of(announcement)


def content_of(session: Session, announcement_id: uuid.UUID) -> Any:
    """What the operator gave as the message (text, or the category's JSON)."""
    content = session.execute(
        select(Announcement.content).where(Announcement.id == announcement_id)
    ).scalar_one_or_none()
    if content is None:
        raise AnnouncementNotFound(announcement_id)
    return content


def resolve_id(session: Session, text: str) -> uuid.UUID:
    """An announcement id from its full form or a unique prefix of at least 4 characters."""
    text = text.strip().lower()
    try:
        full = uuid.UUID(text)
    except ValueError:
        full = None
    if full is not None and len(text) >= 32:
        return full
    if len(text) < 4 and re.fullmatch(r"[0-9a-f-]*", text):
        raise AmbiguousId(f"{text!r}: give at least 4 characters of the announcement id")
    if not _ID_PREFIX.match(text):
        raise AnnouncementNotFound(shown(text))  # quoted and cut: it may hold anything
    matches = list(
        session.execute(
            select(Announcement.id)
            .where(cast(Announcement.id, String).like(f"{text}%"))
            .order_by(Announcement.created_at)
            .limit(3)
        ).scalars()
    )
    if not matches:
        raise AnnouncementNotFound(text)
    if len(matches) > 1:
        raise AmbiguousId(f"{text!r} matches several announcements; give more of the id")
    return matches[0]


def list_infos(
    session: Session,
    *,
    status: AnnouncementStatus | None = None,
    include_tests: bool = False,
    limit: int = 20,
) -> list[AnnouncementInfo]:
    """The most recent announcements first."""
    query = select(Announcement).order_by(Announcement.created_at.desc()).limit(limit)
    if status is not None:
        query = query.where(Announcement.status == status)
    if not include_tests:
        query = query.where(Announcement.is_test.is_(False))
    return [info_of(a) for a in session.execute(query).scalars()]


@dataclass(frozen=True)
class Failure:
    """A group of recipients that did not get the message for the same reason."""

    state: DeliveryState
    reason: str
    count: int


def failures_by_reason(session: Session, announcement_id: uuid.UUID) -> list[Failure]:
    """Failed and skipped deliveries grouped by reason, largest group first.

    The recorded error names the recipient and the request (``(details: …)``, ``[request …]``);
    those parts are left out so that recipients failed for the same reason form one group: they
    are each delivery's ``reason_detail``, and the part they share is its ``reason_id``
    (``worker.broadcast.reasons.split``).
    """
    # Counted per reason id first, then each distinct id's text looked up: the reasons of all
    # history are never read whole.
    per_id = (
        select(Delivery.state, Delivery.reason_id, func.count().label("n"))
        .where(
            Delivery.announcement_id == announcement_id,
            Delivery.state.in_((DeliveryState.FAILED, DeliveryState.SKIPPED)),
        )
        .group_by(Delivery.state, Delivery.reason_id)
        .subquery()
    )
    rows = session.execute(
        select(per_id.c.state, DeliveryReason.text, per_id.c.n)
        .outerjoin(DeliveryReason, DeliveryReason.id == per_id.c.reason_id)
        .order_by(per_id.c.n.desc())
    )
    return [Failure(state, text or "(no reason recorded)", int(n)) for state, text, n in rows]


def archive_path(session: Session, announcement_id: uuid.UUID) -> str | None:
    """Where ``history archive`` put the announcement's per-recipient rows, if it did."""
    return session.execute(
        select(Announcement.archive_path).where(Announcement.id == announcement_id)
    ).scalar_one_or_none()


def unreachable_count(session: Session, announcement_id: uuid.UUID) -> int:
    """Recipients of the announcement who cannot be messaged (the provider answered 403)."""
    return int(
        session.execute(
            select(func.count())
            .select_from(Delivery)
            .join(Recipient, Recipient.id == Delivery.recipient_id)
            .where(
                Delivery.announcement_id == announcement_id,
                Recipient.status == RecipientStatus.UNREACHABLE,
            )
        ).scalar_one()
    )


def batch_states(session: Session, announcement_id: uuid.UUID) -> dict[BatchState, int]:
    rows = session.execute(
        select(Batch.state, func.count())
        .where(Batch.announcement_id == announcement_id)
        .group_by(Batch.state)
    )
    return {state: int(n) for state, n in rows}


@dataclass(frozen=True)
class AudienceSize:
    """Who an announcement would reach now: active recipients, and those it would skip."""

    reachable: int
    inactive: int


def audience_size(session: Session, announcement: Announcement) -> AudienceSize:
    """Count the audience the planner would select (the announcement must be flushed)."""
    rows = session.execute(
        select(Recipient.status, func.count())
        .where(audience_clause(announcement))
        .group_by(Recipient.status)
    )
    counts = {status: int(n) for status, n in rows}
    reachable = counts.pop(RecipientStatus.ACTIVE, 0)
    return AudienceSize(reachable, sum(counts.values()))


def sending_rate(settings: Settings, rate_per_minute: int | None = None) -> float:
    """Messages per second one announcement gets at the configured quota (and its own cap).

    The quota bucket's sustained rate (``worker.ratelimit.quota_spec``) is a little below the
    quota itself: that margin is what keeps every rolling window under it.
    """
    quota = quota_spec(
        "estimate",
        settings.quota_per_minute,
        batch_size=settings.batch_size,
        delta_seconds=settings.quota_delta_seconds,
        window_seconds=settings.quota_window_seconds,
    ).rate_per_second
    if rate_per_minute:
        quota = min(quota, cap_spec("estimate", rate_per_minute).rate_per_second)
    return quota


def backlog_ahead(session: Session, priority: int) -> int:
    """Messages of announcements being sent that go before one of ``priority``."""
    remaining = (
        Announcement.total
        - Announcement.sent
        - Announcement.failed
        - Announcement.skipped
        - Announcement.unknown
    )
    ahead = session.execute(
        select(func.coalesce(func.sum(func.greatest(remaining, 0)), 0)).where(
            Announcement.status == AnnouncementStatus.SENDING,
            Announcement.priority >= priority,
        )
    ).scalar_one()
    return int(ahead)
