"""Reasons stored once: the same text is one row, whoever records it and whenever they commit."""

from __future__ import annotations

import threading

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models import DeliveryReason
from worker.broadcast.reasons import REASON_LIMIT, reason_id
from worker.db import Database


def test_the_same_text_is_one_row_and_a_long_one_is_bounded(db_session: Session) -> None:
    conn = db_session.connection()
    first = reason_id(conn, "cancelled")
    assert reason_id(conn, "cancelled") == first
    assert reason_id(conn, "unsubscribed") != first
    long = reason_id(conn, "é" * (REASON_LIMIT + 50))
    assert reason_id(conn, "é" * REASON_LIMIT) == long
    texts = dict(db_session.execute(select(DeliveryReason.id, DeliveryReason.text)).all())
    assert texts[first] == "cancelled"
    assert texts[long] == "é" * REASON_LIMIT


def test_a_reason_another_transaction_is_creating_gets_its_id(clean_db: Database) -> None:
    """Two workers fail deliveries for the same new reason at once: the second waits for the
    first's commit and uses its row, instead of failing or recording no reason."""
    text = "gave up after 5 attempts: mixin error 500 [request 7]"
    found: list[int] = []
    with clean_db.engine.connect() as creator:
        created = reason_id(creator, text)  # not committed yet
        other = threading.Thread(
            target=lambda: found.append(_in_own_transaction(clean_db, text)), daemon=True
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
    text = "recipient left before sending"
    with clean_db.engine.connect() as creator:
        reason_id(creator, text)
        creator.rollback()
    again = _in_own_transaction(clean_db, text)
    with clean_db.session() as session:
        assert session.get(DeliveryReason, again) is not None


def _in_own_transaction(database: Database, text: str) -> int:
    with database.engine.begin() as conn:
        return reason_id(conn, text)
