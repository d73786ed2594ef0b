"""Recording what happened to a batch: each outcome is one set-based statement (STYLE 11).

Progress is recorded only after the provider accepted a batch (DESIGN invariant 5). A delivery
counts as sent once ``sent_at`` is set; receipts may arrive before that (the provider is fast and
our UPDATE is not yet committed), so "sent" never overwrites a later state. Each outcome updates
the deliveries and the announcement's counter in the same statement (a data-modifying CTE), so
the counters can never drift from the rows between two statements.

These run once or more per batch, the hottest path there is: they are Core statements on a
``Connection``, with ids passed as one array parameter, not through the ORM.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any, NamedTuple, cast

from sqlalchemy import (
    BigInteger,
    Connection,
    Integer,
    SmallInteger,
    Table,
    Text,
    any_,
    bindparam,
    case,
    func,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY

from models import (
    Announcement,
    Batch,
    BatchState,
    Delivery,
    DeliveryState,
    Recipient,
    RecipientStatus,
)
from worker.broadcast import reasons

deliveries = cast(Table, Delivery.__table__)
announcements = cast(Table, Announcement.__table__)
batches = cast(Table, Batch.__table__)
recipients = cast(Table, Recipient.__table__)

UNSENT = (DeliveryState.PENDING, DeliveryState.SENT, DeliveryState.DELIVERED, DeliveryState.READ)
CLOSED = (BatchState.DONE, BatchState.FAILED, BatchState.CANCELLED)


class Pending(NamedTuple):
    """A delivery of the batch that still has to go out; ids as the text the wire carries.

    A named tuple: a batch reads a hundred per attempt, each built in a quarter of the time of a
    frozen dataclass."""

    delivery_id: int
    message_id: str
    recipient_id: int
    user_id: str
    conversation_id: str | None
    recipient_status: RecipientStatus
    #: Requests that carried it without an answer (a provider whose dedup forgets marks them):
    #: above 0, it may have been delivered.
    attempts: int = 0


# The statements of the hot path are built once, here, with bind parameters: building a Core
# statement and its cache key costs ~100-150 µs of CPU per call, about what Postgres spends
# running most of them. No parameter is named like a column: SQLAlchemy would take such an
# execute parameter of an UPDATE as a value to SET.
_IDS = bindparam("ids", type_=ARRAY(BigInteger))
# The batch's attempt that reached the provider: a message whose batch was retried twice was
# attempted three times, which the report's attempts column says.
_ATTEMPT = bindparam("attempt", type_=SmallInteger)
_ANNOUNCEMENT = bindparam("announcement", type_=announcements.c.id.type)
# A ``delivery_reasons`` id and this delivery's own detail (``reasons.store``): the shared text is
# stored once, not in every row.
_REASON = bindparam("reason", type_=Integer)
_DETAIL = bindparam("detail", type_=Text)


def _counted(changed: Any, counter: str, **extra: Any) -> Any:
    """``changed`` (an UPDATE … RETURNING) as a CTE, its row count added to the announcement's
    ``counter`` in the same statement, which returns that count."""
    cte = changed.cte(f"changed_{counter}")
    count = select(func.count()).select_from(cte).scalar_subquery()
    a = announcements.c
    return (
        update(announcements)
        .add_cte(cte)
        .where(a.id == _ANNOUNCEMENT)
        .values({counter: a[counter] + count, **extra})
        .returning(count)
    )


_d, _r = deliveries.c, recipients.c

# UUIDs as text: they only go on the wire, and 300 uuid.UUID objects per batch cost more than the
# rest of reading it.
_PENDING = (
    select(
        _d.id,
        _d.message_id.cast(Text),
        _d.recipient_id,
        _r.user_id.cast(Text),
        _r.conversation_id.cast(Text),
        _r.status,
        _d.attempts,
    )
    .join_from(deliveries, recipients, _r.id == _d.recipient_id)
    .where(
        _d.announcement_id == _ANNOUNCEMENT,
        _d.batch_id == bindparam("batch"),
        _d.sent_at.is_(None),
        _d.state.in_(UNSENT),
    )
    .order_by(_d.id)
)
_BATCH_ANNOUNCEMENT = select(batches.c.announcement_id).where(batches.c.id == bindparam("batch"))

_RECORD_SENT = _counted(
    update(deliveries)
    .where(_d.announcement_id == _ANNOUNCEMENT, _d.id == any_(_IDS), _d.sent_at.is_(None))
    .values(
        sent_at=func.now(),
        attempts=func.greatest(_d.attempts + 1, _ATTEMPT),
        reason_id=None,
        reason_detail=None,
        state=case((_d.state == DeliveryState.PENDING, DeliveryState.SENT), else_=_d.state),
    )
    .returning(_d.id),
    "sent",
    first_sent_at=func.coalesce(announcements.c.first_sent_at, func.now()),
)

# A provider whose dedup forgets counted the attempt before the request went out (``mark_in_doubt``).
_RECORD_SENT_MARKED = _counted(
    update(deliveries)
    .where(_d.announcement_id == _ANNOUNCEMENT, _d.id == any_(_IDS), _d.sent_at.is_(None))
    .values(
        sent_at=func.now(),
        attempts=func.greatest(_d.attempts, _ATTEMPT),
        reason_id=None,
        reason_detail=None,
        state=case((_d.state == DeliveryState.PENDING, DeliveryState.SENT), else_=_d.state),
    )
    .returning(_d.id),
    "sent",
    first_sent_at=func.coalesce(announcements.c.first_sent_at, func.now()),
)

_RECORD_FAILED = _counted(
    update(deliveries)
    .where(
        _d.announcement_id == _ANNOUNCEMENT, _d.id == any_(_IDS), _d.state == DeliveryState.PENDING
    )
    .values(
        state=DeliveryState.FAILED,
        failed_at=func.now(),
        attempts=func.greatest(_d.attempts + 1, _ATTEMPT),
        reason_id=_REASON,
        reason_detail=_DETAIL,
    )
    .returning(_d.id),
    "failed",
)

_RECORD_UNKNOWN = _counted(
    update(deliveries)
    .where(
        _d.announcement_id == _ANNOUNCEMENT, _d.id == any_(_IDS), _d.state == DeliveryState.PENDING
    )
    .values(
        state=DeliveryState.UNKNOWN,
        attempts=func.greatest(_d.attempts + 1, _ATTEMPT),
        reason_id=_REASON,
        reason_detail=_DETAIL,
    )
    .returning(_d.id),
    "unknown",
)

_RECORD_SKIPPED = _counted(
    update(deliveries)
    .where(
        _d.announcement_id == _ANNOUNCEMENT, _d.id == any_(_IDS), _d.state == DeliveryState.PENDING
    )
    .values(state=DeliveryState.SKIPPED, reason_id=_REASON, reason_detail=_DETAIL)
    .returning(_d.id),
    "skipped",
)


def pending_deliveries(
    conn: Connection, batch_id: int, announcement_id: uuid.UUID | None = None
) -> list[Pending]:
    """Deliveries of the batch not yet accepted by the provider (nor failed or skipped).

    ``announcement_id`` is the batch's announcement where the caller knows it already (the
    lease returns it): one round trip less per batch."""
    # The announcement first, as a value: the deliveries query then names its partition, and
    # Postgres plans only that one (a subquery would be pruned at run time, after planning all).
    if announcement_id is None:
        announcement_id = conn.execute(
            _BATCH_ANNOUNCEMENT, {"batch": batch_id}
        ).scalar_one_or_none()
    if announcement_id is None:
        return []
    values = {"batch": batch_id, "announcement": announcement_id}
    return [Pending(*row) for row in conn.execute(_PENDING, values)]


def _run_counted(
    conn: Connection, statement: Any, announcement_id: uuid.UUID, ids: Sequence[int], **more: Any
) -> int:
    values = {"announcement": announcement_id, "ids": list(ids), **more}
    return int(conn.execute(statement, values).scalar_one())


def record_sent(
    conn: Connection,
    announcement_id: uuid.UUID,
    delivery_ids: Sequence[int],
    *,
    attempt: int = 1,
    marked: bool = False,
) -> int:
    """The provider accepted these deliveries on the batch's ``attempt``: stamp them sent (once)
    and count them. ``marked``: ``mark_in_doubt`` already counted this attempt."""
    statement = _RECORD_SENT_MARKED if marked else _RECORD_SENT
    return _run_counted(conn, statement, announcement_id, delivery_ids, attempt=attempt)


def record_failed(
    conn: Connection,
    announcement_id: uuid.UUID,
    delivery_ids: Sequence[int],
    error: str,
    *,
    attempt: int = 1,
) -> int:
    """Give up on these deliveries, after the batch's ``attempt``, with the reason."""
    if not delivery_ids:
        return 0  # no reason to store
    reason, detail = reasons.store(conn, error)
    return _run_counted(
        conn,
        _RECORD_FAILED,
        announcement_id,
        delivery_ids,
        reason=reason,
        detail=detail,
        attempt=attempt,
    )


def record_unknown(
    conn: Connection,
    announcement_id: uuid.UUID,
    delivery_ids: Sequence[int],
    reason: str,
    *,
    attempt: int = 1,
) -> int:
    """These deliveries may or may not have reached their recipients, and can no longer be
    retried safely: record that, never counting them sent or failed."""
    if not delivery_ids:
        return 0  # no reason to store
    reason_id, detail = reasons.store(conn, reason)
    return _run_counted(
        conn,
        _RECORD_UNKNOWN,
        announcement_id,
        delivery_ids,
        reason=reason_id,
        detail=detail,
        attempt=attempt,
    )


_MARK_IN_DOUBT = (
    update(deliveries)
    .where(
        _d.announcement_id == _ANNOUNCEMENT, _d.id == any_(_IDS), _d.state == DeliveryState.PENDING
    )
    .values(attempts=_d.attempts + 1)
)
_CLEAR_DOUBT = (
    update(deliveries)
    .where(
        _d.announcement_id == _ANNOUNCEMENT,
        _d.id == any_(_IDS),
        _d.state == DeliveryState.PENDING,
        _d.attempts > 0,
    )
    .values(attempts=_d.attempts - 1)
)


def mark_in_doubt(
    conn: Connection, announcement_id: uuid.UUID, delivery_ids: Sequence[int]
) -> None:
    """A request carrying these deliveries is about to go out: count the attempt first, so that
    if no answer comes (a timeout, a crash) a retry past the provider's retry horizon knows
    they may have been delivered."""
    conn.execute(_MARK_IN_DOUBT, {"announcement": announcement_id, "ids": list(delivery_ids)})


def clear_doubt(conn: Connection, announcement_id: uuid.UUID, delivery_ids: Sequence[int]) -> None:
    """The request noted by ``mark_in_doubt`` was refused as a whole, which ran nothing (spec
    §4): these deliveries are certainly not delivered, and the attempt does not count."""
    conn.execute(_CLEAR_DOUBT, {"announcement": announcement_id, "ids": list(delivery_ids)})


def record_skipped(
    conn: Connection, announcement_id: uuid.UUID, delivery_ids: Sequence[int], reason: str
) -> int:
    if not delivery_ids:
        return 0  # no reason to store
    reason_id, detail = reasons.store(conn, reason)
    return _run_counted(
        conn, _RECORD_SKIPPED, announcement_id, delivery_ids, reason=reason_id, detail=detail
    )


def mark_unreachable(conn: Connection, recipient_ids: Sequence[int], reason: str) -> None:
    """403: this user cannot be messaged; later announcements skip them."""
    r = recipients.c
    conn.execute(
        update(recipients)
        .where(r.id == any_(_IDS), r.status == RecipientStatus.ACTIVE)
        .values(status=RecipientStatus.UNREACHABLE, status_reason=reason[:500]),
        {"ids": list(recipient_ids)},
    )


# Closing a batch as done follows every batch sent: built once (see above).
_CLOSE_DONE = (
    update(batches)
    .where(batches.c.id == bindparam("batch"))
    .values(state=BatchState.DONE, lease_until=None, leased_by=None, finished_at=func.now())
)


def release_batch(conn: Connection, batch_id: int, state: BatchState, **values: Any) -> None:
    """Hand a leased batch back (to pending, retry, or a final state)."""
    if state is BatchState.DONE and not values:
        conn.execute(_CLOSE_DONE, {"batch": batch_id})
        return
    if state in CLOSED:
        values.setdefault("finished_at", func.now())
    conn.execute(
        update(batches)
        .where(batches.c.id == batch_id)
        .values(state=state, lease_until=None, leased_by=None, **values)
    )
