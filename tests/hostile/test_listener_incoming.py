"""Hostile input, listener: users' messages from groups, system messages and malformed ids.

Before issue 13 (item 3) the stored conversation was whatever conversation the first message came
from, so a user who first spoke in a group got the welcome and every announcement in that group;
and (item 7) one non-UUID ``conversation_id`` rolled back everyone else's /stop in its buffer.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from models import Recipient, RecipientStatus
from tests.factories import add_recipients, default_bot_id
from worker.broadcast.incoming import STOPPED, Reply, handle_messages
from worker.messaging.transport import IncomingMessage

pytestmark = pytest.mark.hostile
BOT = "8a7e1f2c-0d3b-4c5a-9e6f-1a2b3c4d5e6f"
T0 = datetime(2026, 11, 21, tzinfo=UTC)


def _message(
    user: str,
    text: str,
    *,
    direct: bool = True,
    category: str = "PLAIN_TEXT",
    seconds: int = 0,
) -> IncomingMessage:
    return IncomingMessage(
        message_id=str(uuid.uuid4()),
        conversation_id=str(uuid.uuid4()),  # never trusted: the provider tells ``direct``
        user_id=user,
        category=category,
        data=text.encode(),
        created_at=T0 + timedelta(seconds=seconds),
        direct=direct,
    )


def _handle(session: Session, messages: list[IncomingMessage]) -> list[Reply]:
    return handle_messages(session, default_bot_id(session), BOT, messages)


def _recipient(session: Session, user: str) -> Recipient | None:
    return session.execute(
        select(Recipient).where(Recipient.user_id == user)
    ).scalar_one_or_none()


def test_a_first_message_in_a_group_neither_subscribes_nor_is_answered(
    db_session: Session,
) -> None:
    user = str(uuid.uuid4())
    assert _handle(db_session, [_message(user, "hello all", direct=False)]) == []
    assert _recipient(db_session, user) is None
    # Later, in the 1:1 conversation: subscribed and welcomed.
    assert len(_handle(db_session, [_message(user, "hi", seconds=1)])) == 1
    assert _recipient(db_session, user) is not None


def test_stop_said_in_a_group_unsubscribes(db_session: Session) -> None:
    [user] = add_recipients(db_session, 1)
    stop = _message(user, "/stop", direct=False)
    replies = _handle(db_session, [stop])
    assert [(r.text, r.in_reply_to) for r in replies] == [(STOPPED, stop.message_id)]
    recipient = _recipient(db_session, user)
    assert recipient is not None and recipient.status is RecipientStatus.UNSUBSCRIBED


def test_start_said_in_a_group_does_not_resubscribe(db_session: Session) -> None:
    [user] = add_recipients(db_session, 1, status=RecipientStatus.UNSUBSCRIBED)
    assert _handle(db_session, [_message(user, "/start", direct=False)]) == []
    recipient = _recipient(db_session, user)
    assert recipient is not None and recipient.status is RecipientStatus.UNSUBSCRIBED


def test_system_messages_are_not_a_user_speaking(db_session: Session) -> None:
    user = str(uuid.uuid4())
    for category in ("SYSTEM_CONVERSATION", "SYSTEM_ACCOUNT_SNAPSHOT"):
        assert _handle(db_session, [_message(user, "/start", category=category)]) == []
    assert _recipient(db_session, user) is None


@pytest.mark.parametrize("bad", ["not-a-uuid", "", "x" * 5_000, "group:1"])
def test_a_malformed_user_id_never_spoils_the_rest_of_the_buffer(
    db_session: Session, bad: str
) -> None:
    known = add_recipients(db_session, 2)
    buffer = [
        _message(known[0], "/stop"),
        _message(bad, "/stop"),
        _message(bad, "hello"),
        _message(known[1], "/stop", seconds=1),
    ]
    replies = _handle(db_session, buffer)
    assert sorted(r.user_id for r in replies) == sorted(known)
    for user in known:
        recipient = _recipient(db_session, user)
        assert recipient is not None and recipient.status is RecipientStatus.UNSUBSCRIBED
