"""Deliveries and batches: one row per announcement x recipient, grouped into batches of <= 100."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    Uuid,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, enum_column, utc_now_column


class DeliveryState(enum.StrEnum):
    """pending < sent < delivered < read moves forward only; failed, skipped and unknown are final.

    ``unknown``: the request may or may not have been executed and can no longer be retried
    safely (IM REST past its retry horizon under the ``mark_unknown`` policy); never counted sent.
    """

    PENDING = "pending"
    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    FAILED = "failed"
    SKIPPED = "skipped"
    UNKNOWN = "unknown"


class Delivery(Base):
    """One recipient's copy of one announcement.

    ``message_id`` = UniqueObjectId(announcement_id, user_id): every retry re-sends the same id, and
    receipts carry only that id. The table is partitioned by announcement
    (``worker/broadcast/partitions.py``): each partition has its own unique indexes on
    ``message_id`` (the receipt index) and ``recipient_id``, and one on ``batch_id``; the parent has
    only the primary key, which Postgres requires to hold the partition key.
    """

    __tablename__ = "deliveries"

    # No foreign keys at all: only the planner writes these rows, from the announcement, recipients
    # and batches it reads and inserts in the same statement; per-row checks cost ~60 % of a
    # planning page (bench/proposals/planning-foreign-keys.md), and one to announcements would
    # make attaching each partition lock the announcements table.
    # Primary key (id, announcement_id): the few statements that know only delivery ids
    # (``outcomes.mark_in_doubt``) still probe each partition's index instead of scanning it.
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    announcement_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    recipient_id: Mapped[int] = mapped_column(BigInteger)
    message_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    batch_id: Mapped[int | None] = mapped_column(BigInteger)
    state: Mapped[DeliveryState] = mapped_column(
        enum_column(DeliveryState, "delivery_state"),
        default=DeliveryState.PENDING,
        server_default=DeliveryState.PENDING.value,
    )
    attempts: Mapped[int] = mapped_column(SmallInteger, default=0, server_default="0")
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    read_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    failed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Why it failed, was skipped or is unknown: a ``delivery_reasons`` row, stored once however
    # many deliveries share it (``worker/broadcast/reasons.py``). Not a foreign key, for the
    # reasons given above; reasons are never deleted, so a reference never dangles.
    reason_id: Mapped[int | None] = mapped_column(Integer)
    # What the reason said of this recipient or request alone (`` (details: …)``, `` [request …]``),
    # NULL when nothing: the recorded text is the reason's text followed by this one.
    reason_detail: Mapped[str | None] = mapped_column(Text)

    __table_args__ = ({"postgresql_partition_by": "LIST (announcement_id)"},)


class DeliveryReason(Base):
    """The text of a reason deliveries failed, were skipped or are unknown, stored once.

    The text is what operators see (``announce show``, the report's CSV, archives), bounded to
    ``worker.broadcast.reasons.REASON_LIMIT`` characters by its writer.
    """

    __tablename__ = "delivery_reasons"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    text: Mapped[str] = mapped_column(Text, unique=True)


class BatchState(enum.StrEnum):
    PENDING = "pending"  # planned (or put back), waiting for the dispatcher
    QUEUED = "queued"  # a send_batch message was published
    LEASED = "leased"  # a worker holds it until lease_until
    RETRY = "retry"  # waiting for next_attempt_at after a transient error
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


OPEN_BATCH_STATES = (BatchState.PENDING, BatchState.QUEUED, BatchState.LEASED, BatchState.RETRY)


class Batch(Base):
    """Up to 100 deliveries that are sent in one request, with a lease for crash recovery."""

    __tablename__ = "batches"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    announcement_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("announcements.id", ondelete="CASCADE")
    )
    seq: Mapped[int] = mapped_column(Integer)
    size: Mapped[int] = mapped_column(SmallInteger)
    state: Mapped[BatchState] = mapped_column(
        enum_column(BatchState, "batch_state"),
        default=BatchState.PENDING,
        server_default=BatchState.PENDING.value,
    )
    attempts: Mapped[int] = mapped_column(SmallInteger, default=0, server_default="0")
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # When a request of this batch first went out: a provider whose dedup forgets (IM REST's
    # retry horizon) must not retry past it.
    first_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # After a request of this batch was refused as a whole (a recipient in it the provider
    # refuses), its requests carry at most this many: the split goes on where it stopped,
    # whenever the batch is leased again.
    split_size: Mapped[int | None] = mapped_column(SmallInteger)
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    leased_by: Mapped[str | None] = mapped_column(String(200))
    enqueued_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = utc_now_column()
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        UniqueConstraint("announcement_id", "seq", name="uq_batches_announcement_seq"),
        # Dispatcher, reaper and completion check only ever look at open batches.
        Index(
            "ix_batches_open",
            "state",
            "announcement_id",
            "seq",
            postgresql_where=text("state IN ('pending', 'queued', 'leased', 'retry')"),
        ),
        # The metrics' retry count reads only batches that were retried: few, whatever the history.
        Index("ix_batches_retried", "attempts", postgresql_where=text("attempts > 1")),
    )
