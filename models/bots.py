"""Bots: who sends. Each has a provider, its own quota, and a reference to its credentials.

The credentials themselves never enter the database: ``credentials`` says where to read them
(``file:/path/keystore.json`` or ``env:VARIABLE``), and the row with ``credentials IS NULL`` is the
zero-configuration default bot, whose key is ``BLAZECAST_KEYSTORE`` and whose quota and transport
are the settings'. A bot whose provider rejected its key is halted with the reason until an operator
resumes it; a disabled bot sends nothing and takes no new announcement.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, DateTime, Integer, String, Text, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, enum_column, utc_now_column


class BotProvider(enum.StrEnum):
    MIXIN = "mixin"
    IMREST = "imrest"

    @property
    def quota_counts_requests(self) -> bool:
        """Whether the bot's quota counts requests (IM REST) rather than messages (Mixin)."""
        return self is BotProvider.IMREST


DEFAULT_BOT_NAME = "default"


class Bot(Base):
    __tablename__ = "bots"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    provider: Mapped[BotProvider] = mapped_column(enum_column(BotProvider, "bot_provider"))
    # Where the secret is, never the secret: "file:<path>" or "env:<VARIABLE>"; NULL for the default
    # bot, whose key is BLAZECAST_KEYSTORE.
    credentials: Mapped[str | None] = mapped_column(String(1000))
    # The provider's id of the bot (Mixin: the keystore's app_id): two rows never share one.
    account_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    # NULL: the settings' BLAZECAST_QUOTA_PER_MINUTE / BLAZECAST_TRANSPORT.
    quota_per_minute: Mapped[int | None] = mapped_column(Integer)
    transport: Mapped[str | None] = mapped_column(String(16))
    # Provider settings that are not secret (URLs, the sending account, ...).
    options: Mapped[dict[str, Any]] = mapped_column(
        JSONB, default=dict, server_default=text("'{}'::jsonb")
    )
    disabled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    halted_reason: Mapped[str | None] = mapped_column(Text)
    halted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = utc_now_column()

    __table_args__ = (
        CheckConstraint("quota_per_minute IS NULL OR quota_per_minute >= 2", name="quota_positive"),
        CheckConstraint(
            "credentials IS NULL OR credentials LIKE 'file:%' OR credentials LIKE 'env:%'",
            name="credentials_reference",
        ),
    )

    @property
    def is_default(self) -> bool:
        return self.credentials is None
