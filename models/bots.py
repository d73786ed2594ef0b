"""Bots: per-bot state that outlives a process, such as a pause after the provider rejected our key."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import DateTime, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base


class Bot(Base):
    """A bot whose sending can be halted (401: invalid credentials or clock skew) with the reason."""

    __tablename__ = "bots"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    halted_reason: Mapped[str | None] = mapped_column(Text)
    halted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
