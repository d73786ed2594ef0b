"""Planning: turn an announcement's audience into deliveries and batches of <= 100, in SQL.

Each page is one statement (``INSERT … SELECT`` through CTEs) over the next ``page_size`` recipients in
id order (keyset access), committed together with the announcement's cursor. A crash mid-plan loses
at most the uncommitted page; the next planner resumes from the stored cursor, so planning is
idempotent and resumable. Only one planner works on an announcement at a time (``plan_lease_until``).
Planning runs ahead of sending by a bounded number of messages (``plan_ahead``), page by page, so
that a large audience's planning is spread over the broadcast instead of competing with its first
seconds of sending. No row passes through Python: message ids are computed in SQL, a deterministic
UUID per (announcement, user): the Mixin provider sends it as the message id (UniqueObjectId, a
test holds the two together), and every provider's receipts or statuses find the delivery by it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import (
    ColumnElement,
    SmallInteger,
    String,
    case,
    cast,
    exists,
    func,
    insert,
    literal,
    select,
    update,
)
from sqlalchemy.orm import InstrumentedAttribute, Session

from models import (
    Announcement,
    AnnouncementStatus,
    AudienceKind,
    AudienceMember,
    Batch,
    Delivery,
    DeliveryState,
    Recipient,
    RecipientStatus,
)
from worker.broadcast import reasons
from worker.broadcast.partitions import analyze_first_page, ensure_partition

PLAN_LEASE = timedelta(seconds=60)
# An announcement's first page is small, so that its first batches go out within a fraction of a
# second of the start instead of after a whole page (20,000 recipients take ~0.4 s).
FIRST_PAGE_SIZE = 2_000
PLANNABLE = (AnnouncementStatus.SENDING, AnnouncementStatus.PAUSED)


@dataclass(frozen=True)
class PageResult:
    deliveries: int
    batches: int
    finished: bool


def message_id_sql(
    announcement_id: uuid.UUID, user_id: ColumnElement[str] | InstrumentedAttribute[str]
) -> ColumnElement[uuid.UUID]:
    """UniqueObjectId(announcement, user) in SQL: MD5 of the announcement's lowercase UUID and the
    user id's canonical text (a lowercase UUID for Mixin), version 3 nibble and RFC 4122 variant
    bits set (mixin-protocol.md §4.5)."""
    digest = func.md5(literal(str(announcement_id)) + cast(user_id, String))
    # Byte 8's high nibble becomes (nibble & 0x3) | 0x8: index a 16-entry table by the nibble.
    variant = func.substr(
        "89ab89ab89ab89ab", func.strpos("0123456789abcdef", func.substr(digest, 17, 1)), 1
    )
    text_id = (
        func.substr(digest, 1, 12)
        + literal("3")
        + func.substr(digest, 14, 3)
        + variant
        + func.substr(digest, 18, 15)
    )
    return cast(text_id, Delivery.message_id.type)


def audience_clause(announcement: Announcement) -> ColumnElement[bool]:
    """Which recipients the announcement targets, whatever their subscription status."""
    kind = announcement.audience_kind
    if kind is AudienceKind.ALL:
        return literal(True)
    if kind is AudienceKind.TAGS:
        return Recipient.tags.overlap(cast(announcement.audience_tags or [], Recipient.tags.type))
    if kind is AudienceKind.LIST:
        return exists().where(
            AudienceMember.announcement_id == announcement.id,
            AudienceMember.recipient_id == Recipient.id,
        )
    if kind is AudienceKind.RECALL:
        # Recall every message of the original that the provider accepted.
        return exists().where(
            Delivery.announcement_id == announcement.recall_of,
            Delivery.recipient_id == Recipient.id,
            Delivery.sent_at.is_not(None),
        )
    raise ValueError(f"unknown audience kind {kind}")


def claim_plan_lease(session: Session, announcement_id: uuid.UUID, holder: str) -> bool:
    """Take (or, for its holder, renew) the right to plan; False if another planner holds it or
    nothing is left to plan."""
    now = func.now()
    claimed = session.execute(
        update(Announcement)
        .where(
            Announcement.id == announcement_id,
            Announcement.status.in_(PLANNABLE),
            Announcement.planned.is_(False),
            (Announcement.plan_lease_until.is_(None))
            | (Announcement.plan_lease_until < now)
            | (Announcement.plan_holder == holder),
        )
        .values(plan_lease_until=now + PLAN_LEASE, plan_holder=holder)
        .returning(Announcement.id)
    ).first()
    return claimed is not None


def release_plan_lease(session: Session, announcement_id: uuid.UUID, holder: str) -> None:
    """Give the plan lease back before the audience is exhausted (planning is far enough ahead)."""
    session.execute(
        update(Announcement)
        .where(Announcement.id == announcement_id, Announcement.plan_holder == holder)
        .values(plan_lease_until=None, plan_holder=None)
    )


def unsent() -> ColumnElement[int]:
    """Planned deliveries not yet sent, failed or skipped, from the announcement's counters."""
    return Announcement.total - Announcement.sent - Announcement.failed - Announcement.skipped


def far_enough_ahead(session: Session, announcement_id: uuid.UUID, plan_ahead: int) -> bool:
    """True when at least ``plan_ahead`` planned messages wait to be sent (never when it is 0)."""
    if not plan_ahead:
        return False
    waiting = session.execute(
        select(unsent()).where(Announcement.id == announcement_id)
    ).scalar_one()
    return int(waiting) >= plan_ahead


def plan_page(
    session: Session, announcement_id: uuid.UUID, *, page_size: int, batch_size: int
) -> PageResult:
    """Plan the next page of recipients; mark the announcement planned when none is left.

    The caller holds the plan lease (``claim_plan_lease``), so this is the only writer of the
    planning columns and reads them without a row lock: senders update the same row's counters
    after every batch, and must not wait for a page that takes most of a second. The row is
    written once, at the end, so its lock is held only until the commit that follows.
    """
    announcement = session.execute(
        select(Announcement).where(Announcement.id == announcement_id)
    ).scalar_one()
    if announcement.planned:
        return PageResult(0, 0, True)
    if announcement.batches_planned == 0:
        page_size = min(page_size, FIRST_PAGE_SIZE)
        ensure_partition(session, announcement_id)
    target = audience_clause(announcement)
    page = (
        select(Recipient.id.label("recipient_id"), Recipient.user_id)
        .where(
            Recipient.bot_id == announcement.bot_id,
            Recipient.id > announcement.plan_cursor,
            Recipient.status == RecipientStatus.ACTIVE,
            target,
        )
        .order_by(Recipient.id)
        .limit(page_size)
        .cte("page")
    )
    chunk = (func.row_number().over(order_by=page.c.recipient_id) - 1) // batch_size
    numbered = select(page.c.recipient_id, page.c.user_id, chunk.label("chunk")).cte("numbered")
    first_seq = announcement.batches_planned
    new_batches = (
        insert(Batch)
        .from_select(
            ["announcement_id", "seq", "size"],
            select(literal(announcement_id), first_seq + numbered.c.chunk, func.count()).group_by(
                numbered.c.chunk
            ),
        )
        .returning(Batch.id, Batch.seq)
        .cte("new_batches")
    )
    inserted = (
        insert(Delivery)
        .from_select(
            # Every column with a Python-side default is given explicitly: SQLAlchemy cannot add
            # defaults to an INSERT … SELECT that joins another DML CTE.
            ["announcement_id", "recipient_id", "message_id", "batch_id", "state", "attempts"],
            select(
                literal(announcement_id),
                numbered.c.recipient_id,
                message_id_sql(announcement_id, numbered.c.user_id),
                new_batches.c.id,
                literal(DeliveryState.PENDING, Delivery.state.type),
                literal(0, SmallInteger),
            ).select_from(
                numbered.join(new_batches, new_batches.c.seq == first_seq + numbered.c.chunk)
            ),
        )
        .returning(Delivery.recipient_id)
        .cte("inserted")
    )
    last_id, count = session.execute(select(func.max(inserted.c.recipient_id), func.count())).one()
    batches = -(-count // batch_size)
    finished = count < page_size
    values: dict[str, object] = {
        "total": Announcement.total + count,
        "batches_planned": Announcement.batches_planned + batches,
    }
    if last_id is not None:
        values["plan_cursor"] = last_id
    if finished:
        skipped = _record_inactive_as_skipped(session, announcement, target)
        values.update(
            planned=True,
            plan_lease_until=None,
            plan_holder=None,
            total=Announcement.total + count + skipped,
            skipped=Announcement.skipped + skipped,
        )
    session.execute(update(Announcement).where(Announcement.id == announcement_id).values(values))
    if first_seq == 0:
        analyze_first_page(session, announcement_id)
    return PageResult(count, batches, finished)


def _record_inactive_as_skipped(
    session: Session, announcement: Announcement, target: ColumnElement[bool]
) -> int:
    """Give audience members who unsubscribed or are unreachable a ``skipped`` delivery, so that the
    per-recipient report lists them with the reason; returns how many."""
    # The reason is the recipient's status ("unsubscribed", "unreachable"), stored once each.
    connection = session.connection()
    reason_ids = {
        status: reasons.store(connection, status.value).id
        for status in RecipientStatus
        if status != RecipientStatus.ACTIVE
    }
    result = session.execute(
        insert(Delivery).from_select(
            ["announcement_id", "recipient_id", "message_id", "state", "reason_id"],
            select(
                literal(announcement.id),
                Recipient.id,
                message_id_sql(announcement.id, Recipient.user_id),
                literal(DeliveryState.SKIPPED, Delivery.state.type),
                case(reason_ids, value=Recipient.status),
            ).where(
                Recipient.bot_id == announcement.bot_id,
                Recipient.status != RecipientStatus.ACTIVE,
                target,
                ~exists().where(
                    Delivery.announcement_id == announcement.id,
                    Delivery.recipient_id == Recipient.id,
                ),
            ),
        )
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
