"""Recipients: each bot's audience, one row per (bot, provider user)."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    DateTime,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    Uuid,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, enum_column, utc_now_column

#: The longest user id of any provider: a Mixin UUID (IM REST ids have at most 16 digits).
MAX_USER_ID_CHARS = 36


class RecipientStatus(enum.StrEnum):
    ACTIVE = "active"
    UNSUBSCRIBED = "unsubscribed"  # said /stop, or an operator unsubscribed them
    UNREACHABLE = "unreachable"  # the provider refused the user (Mixin 403, IM REST 10000)


class Recipient(Base):
    """A provider's user who may receive announcements from one bot.

    ``user_id`` is the provider's id as the text its wire carries: a lowercase UUID for Mixin, a
    decimal int64 (at most 2^53 - 1) for IM REST; each provider's ``check_user_id`` makes it
    canonical before it is stored, so the same user is always the same text.

    ``id`` is a compact internal key: deliveries reference it and the planner pages through recipients by
    it (keyset access), which keeps 10M-row joins cheap. ``conversation_id`` is
    UniqueConversationId(bot, user), stored when the bot is known at import time.
    """

    __tablename__ = "recipients"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    # The same person on two bots is two recipients.
    bot_id: Mapped[int] = mapped_column(ForeignKey("bots.id"))
    user_id: Mapped[str] = mapped_column(String(MAX_USER_ID_CHARS))
    conversation_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    status: Mapped[RecipientStatus] = mapped_column(
        enum_column(RecipientStatus, "recipient_status"),
        default=RecipientStatus.ACTIVE,
        server_default=RecipientStatus.ACTIVE.value,
    )
    tags: Mapped[list[str]] = mapped_column(
        ARRAY(String(64)), default=list, server_default=text("'{}'::varchar[]")
    )
    time_zone: Mapped[str | None] = mapped_column(String(64))
    status_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = utc_now_column()
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )

    __table_args__ = (
        UniqueConstraint("bot_id", "user_id", name="uq_recipients_bot_user"),
        Index("ix_recipients_tags", "tags", postgresql_using="gin"),
        # The planner's keyset scan: a bot's active recipients in id order.
        Index(
            "ix_recipients_active_id", "bot_id", "id", postgresql_where=text("status = 'active'")
        ),
    )
