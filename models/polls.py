"""Status polls: the IM REST recipients whose message status is read back by polling.

The IM REST API pushes no receipts; the only status source is the sender's view of each
recipient's conversation (spec §3.3), one request per recipient per poll. A small audience has a
row per recipient; a large one has rows only for a uniform random sample, and its rates are
estimated from them (``worker.messaging.imrest.estimate``).
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, DateTime, ForeignKey, Index, SmallInteger, String, text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base


class StatusPoll(Base):
    """One recipient's message of one announcement, polled on a schedule after it was sent."""

    __tablename__ = "status_polls"

    delivery_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    announcement_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("announcements.id", ondelete="CASCADE"), index=True
    )
    bot_id: Mapped[int] = mapped_column(ForeignKey("bots.id"))
    # NULL once polling is over (READ seen, or past the schedule's last poll).
    next_poll_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    polls: Mapped[int] = mapped_column(SmallInteger, default=0, server_default="0")
    # What the last poll saw: UNREAD, DELIVERED, READ, or MISSING (no marked message found);
    # UNSENT (the delivery was never sent) and UNPOLLABLE (the provider refused) end polling.
    status: Mapped[str | None] = mapped_column(String(16))
    # The provider's id of the message, once a poll found it (a recall needs it).
    msg_id: Mapped[int | None] = mapped_column(BigInteger)
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        Index(
            "ix_status_polls_due",
            "bot_id",
            "next_poll_at",
            postgresql_where=text("next_poll_at IS NOT NULL"),
        ),
        # Rows whose delivery is not sent yet: the poll tick makes them due (migration 0007).
        Index(
            "ix_status_polls_waiting",
            "bot_id",
            postgresql_where=text("status IS NULL AND next_poll_at IS NULL"),
        ),
    )
