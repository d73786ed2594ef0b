"""Reasons stored once: the same text is one row, whoever records it and whenever they commit; what
a reason says of one recipient stays with that recipient's delivery."""

from __future__ import annotations

import csv
import io
import threading

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from models import Delivery, DeliveryReason, DeliveryState, Recipient
from tests.factories import add_announcement, add_recipients
from tests.integration.broadcast.pipeline import start_and_plan
from worker.broadcast import outcomes
from worker.broadcast.reasons import REASON_LIMIT, split, store
from worker.db import Database
from worker.progress import Failure, failures_by_reason
from worker.report import write_outcomes


def test_the_same_text_is_one_row_and_a_long_one_is_bounded(db_session: Session) -> None:
    conn = db_session.connection()
    first = store(conn, "cancelled").id
    assert store(conn, "cancelled").id == first
    assert store(conn, "unsubscribed").id != first
    long = store(conn, "é" * (REASON_LIMIT + 50)).id
    assert store(conn, "é" * REASON_LIMIT).id == long
    texts = dict(db_session.execute(select(DeliveryReason.id, DeliveryReason.text)).all())
    assert texts[first] == "cancelled"
    assert texts[long] == "é" * REASON_LIMIT


def test_a_thousand_recipients_refused_alone_add_one_reason_and_keep_their_texts(
    clean_db: Database,
) -> None:
    """Each refusal names its recipient and request (Mixin's 403 of one user): the reasons table
    gains one row, not a thousand, and the report still gives each recipient its whole text."""
    with clean_db.session() as session:
        add_recipients(session, 1_000)
        announcement_id = add_announcement(session, "Refused one by one").id
    start_and_plan(clean_db, announcement_id)
    refused = "mixin error 403: Forbidden"
    with clean_db.session() as session:
        reasons_before = session.scalar(select(func.count()).select_from(DeliveryReason))
        deliveries = session.execute(
            select(Delivery.id, Recipient.user_id)
            .join(Recipient, Recipient.id == Delivery.recipient_id)
            .where(Delivery.announcement_id == announcement_id)
        ).all()
        assert len(deliveries) == 1_000
        expected = {}
        for n, (delivery_id, user_id) in enumerate(deliveries):
            error = f"{refused} (details: user {user_id}) [request {n:08x}]"
            outcomes.record_failed(session.connection(), announcement_id, [delivery_id], error)
            expected[user_id] = error
    with clean_db.session() as session:
        reasons_after = session.scalar(select(func.count()).select_from(DeliveryReason))
        sink = io.StringIO()
        write_outcomes(session, announcement_id, sink)
        failures = failures_by_reason(session, announcement_id)
    assert reasons_after == reasons_before + 1
    rows = list(csv.DictReader(io.StringIO(sink.getvalue())))
    assert {row["user_id"]: row["reason"] for row in rows} == expected
    assert failures == [Failure(DeliveryState.FAILED, refused, 1_000)]


# The pattern ``announce show`` grouped failures with before reasons were split when recorded.
_GROUPED_BY_BEFORE = r" (\(details: .*|\[request [^]]*\])$"


@pytest.mark.parametrize(
    "reason",
    [
        "cancelled",
        "",
        "Forbidden: 403 (details: user 7) [request 1]",
        " [request 1]",
        "e [request 1] then retried",
        "e [request 1] [request 2]",
        "e (details: {'why': 'x (details: y)'}) then",
        "e (details: a\nb)",
        "e [request 1]\n",
        "e [request\n1]",
        "x" * 490 + " [request 1234]",
    ],
)
def test_the_shared_part_is_what_failures_were_grouped_by(db_session: Session, reason: str) -> None:
    """``announce show`` now groups by the stored shared part: it is what Postgres's regexp, which
    grouped the whole texts before, left of each."""
    grouped = db_session.execute(
        text("SELECT regexp_replace(:reason, :pattern, '')"),
        {"reason": reason[:REASON_LIMIT], "pattern": _GROUPED_BY_BEFORE},
    ).scalar_one()
    assert split(reason)[0] == grouped


def test_a_reason_another_transaction_is_creating_gets_its_id(clean_db: Database) -> None:
    """Two workers fail deliveries for the same new reason at once: the second waits for the
    first's commit and uses its row, instead of failing or recording no reason."""
    text_ = "gave up after 5 attempts: mixin error 500 [request 7]"
    found: list[int] = []
    with clean_db.engine.connect() as creator:
        created = store(creator, text_).id  # not committed yet
        other = threading.Thread(
            target=lambda: found.append(_in_own_transaction(clean_db, text_)), daemon=True
        )
        other.start()
        other.join(timeout=0.5)
        assert other.is_alive(), "the second writer should wait for the first's commit"
        creator.commit()
    other.join(timeout=10)
    assert found == [created]
    with clean_db.session() as session:
        assert session.execute(select(func.count()).select_from(DeliveryReason)).scalar() == 1


def test_a_reason_whose_creator_rolled_back_is_created_again(clean_db: Database) -> None:
    reason = "recipient left before sending"
    with clean_db.engine.connect() as creator:
        store(creator, reason)
        creator.rollback()
    again = _in_own_transaction(clean_db, reason)
    with clean_db.session() as session:
        assert session.get(DeliveryReason, again) is not None


def _in_own_transaction(database: Database, reason: str) -> int:
    with database.engine.begin() as conn:
        return store(conn, reason).id
