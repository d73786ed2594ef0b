"""Announcements: what to send, to whom, when; their status machine and progress counters."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    Uuid,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Base, IllegalTransition, enum_column, utc_now_column
from models.bots import Bot


class AnnouncementStatus(enum.StrEnum):
    DRAFT = "draft"
    SCHEDULED = "scheduled"
    SENDING = "sending"
    PAUSED = "paused"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    FAILED = "failed"


S = AnnouncementStatus
# The one transition table (listmonk's campaign statuses): anything else raises IllegalTransition.
TRANSITIONS: dict[AnnouncementStatus, frozenset[AnnouncementStatus]] = {
    S.DRAFT: frozenset({S.SCHEDULED, S.CANCELLED}),
    S.SCHEDULED: frozenset({S.SENDING, S.PAUSED, S.CANCELLED, S.DRAFT}),
    S.SENDING: frozenset({S.PAUSED, S.COMPLETED, S.CANCELLED, S.FAILED}),
    S.PAUSED: frozenset({S.SENDING, S.SCHEDULED, S.CANCELLED, S.FAILED}),
    S.COMPLETED: frozenset(),
    S.CANCELLED: frozenset(),
    S.FAILED: frozenset(),
}
TERMINAL = frozenset({S.COMPLETED, S.CANCELLED, S.FAILED})


def sources_of(target: AnnouncementStatus) -> tuple[AnnouncementStatus, ...]:
    """The statuses from which ``target`` may be reached (for compare-and-set UPDATEs)."""
    return tuple(source for source, targets in TRANSITIONS.items() if target in targets)


def check_transition(current: AnnouncementStatus, target: AnnouncementStatus) -> None:
    if target not in TRANSITIONS[current]:
        raise IllegalTransition(f"an announcement cannot go from {current} to {target}")


class AudienceKind(enum.StrEnum):
    ALL = "all"
    TAGS = "tags"  # recipients having any of the tags
    LIST = "list"  # an explicit list of user ids (audience_members)
    RECALL = "recall"  # the sent deliveries of the announcement in recall_of


class Announcement(Base):
    """One message to many recipients.

    ``content`` is what the operator gave (text, or the category's JSON object); ``data_base64`` is the
    validated, encoded payload every recipient gets (recalls build theirs per recipient). Counters are
    kept incrementally by the sender and the receipt recorder, and recounted exactly at completion.
    """

    __tablename__ = "announcements"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    bot_id: Mapped[int] = mapped_column(ForeignKey("bots.id"), index=True)
    bot: Mapped[Bot] = relationship(lazy="joined", innerjoin=True)
    idempotency_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    title: Mapped[str] = mapped_column(String(200), default="", server_default="")
    category: Mapped[str] = mapped_column(String(32))
    content: Mapped[Any] = mapped_column(JSONB)
    data_base64: Mapped[str | None] = mapped_column(Text)
    audience_kind: Mapped[AudienceKind] = mapped_column(enum_column(AudienceKind, "audience_kind"))
    audience_tags: Mapped[list[str] | None] = mapped_column(JSONB)
    recall_of: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("announcements.id"))
    is_test: Mapped[bool] = mapped_column(default=False, server_default=text("false"))

    status: Mapped[AnnouncementStatus] = mapped_column(
        enum_column(AnnouncementStatus, "announcement_status"),
        default=AnnouncementStatus.DRAFT,
        server_default=AnnouncementStatus.DRAFT.value,
    )
    status_reason: Mapped[str | None] = mapped_column(Text)
    scheduled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    time_zone: Mapped[str] = mapped_column(String(64), default="UTC", server_default="UTC")
    priority: Mapped[int] = mapped_column(SmallInteger, default=0, server_default="0")
    rate_per_minute: Mapped[int | None] = mapped_column(Integer)

    # Planning progress: keyset cursor over recipients.id, and how many batches exist.
    plan_cursor: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    planned: Mapped[bool] = mapped_column(default=False, server_default=text("false"))
    batches_planned: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Only one planner runs per announcement: it holds this lease while it pages.
    plan_lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    plan_holder: Mapped[str | None] = mapped_column(String(200))

    total: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    sent: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    delivered: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    read: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    failed: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    skipped: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Sent or not, nobody can tell (``DeliveryState.UNKNOWN``).
    unknown: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    created_at: Mapped[datetime] = utc_now_column()
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    first_sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )
    # Set by ``blazecast history archive``: the per-recipient rows now live in this file only
    # (their partition was dropped); the counters above still describe the announcement.
    archived_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    archive_path: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        CheckConstraint("rate_per_minute IS NULL OR rate_per_minute > 0", name="rate_positive"),
        # The beat tick: due scheduled announcements.
        Index(
            "ix_announcements_due", "scheduled_at", postgresql_where=text("status = 'scheduled'")
        ),
        Index("ix_announcements_status", "status"),
    )

    @property
    def remaining(self) -> int:
        return max(self.total - self.sent - self.failed - self.skipped, 0)


class AudienceMember(Base):
    """An explicit audience (``audience_kind = list``): which recipients an announcement targets."""

    __tablename__ = "audience_members"

    announcement_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("announcements.id", ondelete="CASCADE"), primary_key=True
    )
    recipient_id: Mapped[int] = mapped_column(
        ForeignKey("recipients.id", ondelete="CASCADE"), primary_key=True
    )


class AnnouncementEvent(Base):
    """A status change of an announcement, with when and why (the report draws them)."""

    __tablename__ = "announcement_events"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    announcement_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("announcements.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[AnnouncementStatus] = mapped_column(
        enum_column(AnnouncementStatus, "announcement_status")
    )
    reason: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = utc_now_column()
