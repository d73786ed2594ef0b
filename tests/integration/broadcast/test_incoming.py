"""Users' messages: first contact subscribes, /stop and /start toggle, handling is idempotent."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import Recipient, RecipientStatus
from tests.factories import default_bot_id
from worker.broadcast.incoming import STARTED, STOPPED, WELCOME, handle_messages
from worker.messaging.mixin.ids import unique_conversation_id
from worker.messaging.transport import IncomingMessage

BOT = "8a7e1f2c-0d3b-4c5a-9e6f-1a2b3c4d5e6f"
T0 = datetime(2026, 11, 21, tzinfo=UTC)


def _says(user: str, text: str, seconds: int = 0) -> IncomingMessage:
    return IncomingMessage(
        message_id=str(uuid.uuid4()),
        conversation_id=unique_conversation_id(BOT, user),
        user_id=user,
        category="PLAIN_TEXT",
        data=text.encode(),
        created_at=T0 + timedelta(seconds=seconds),
    )


def _status(session: Session, user: str) -> RecipientStatus:
    return session.execute(
        select(Recipient.status).where(Recipient.user_id == user)
    ).scalar_one()


def test_first_contact_subscribes_and_is_welcomed(db_session: Session) -> None:
    user = str(uuid.uuid4())
    hello = _says(user, "Hello")
    replies = handle_messages(db_session, default_bot_id(db_session), BOT, [hello])
    assert [r.text for r in replies] == [WELCOME]
    assert _status(db_session, user) is RecipientStatus.ACTIVE
    assert replies[0].in_reply_to == hello.message_id
    # The provider re-pushes until acked: handling again adds nothing and welcomes no more.
    again = handle_messages(db_session, default_bot_id(db_session), BOT, [hello])
    assert again == []
    assert db_session.execute(select(Recipient)).scalars().all().__len__() == 1


def test_stop_then_start(db_session: Session) -> None:
    user = str(uuid.uuid4())
    handle_messages(db_session, default_bot_id(db_session), BOT, [_says(user, "Hello")])
    stop = handle_messages(db_session, default_bot_id(db_session), BOT, [_says(user, "/stop", 1)])
    assert [r.text for r in stop] == [STOPPED]
    assert _status(db_session, user) is RecipientStatus.UNSUBSCRIBED
    start = handle_messages(
        db_session, default_bot_id(db_session), BOT, [_says(user, " /START ", 2)]
    )
    assert [r.text for r in start] == [STARTED]
    assert _status(db_session, user) is RecipientStatus.ACTIVE


def test_last_command_in_a_buffer_wins_and_replies_are_deterministic(db_session: Session) -> None:
    user = str(uuid.uuid4())
    messages = [_says(user, "/start", 2), _says(user, "/stop", 1)]
    first = handle_messages(db_session, default_bot_id(db_session), BOT, messages)
    assert [r.text for r in first] == [STARTED]
    assert _status(db_session, user) is RecipientStatus.ACTIVE
    second = handle_messages(db_session, default_bot_id(db_session), BOT, messages)
    assert [r.in_reply_to for r in second] == [r.in_reply_to for r in first]


def test_messages_from_the_bot_itself_are_ignored(db_session: Session) -> None:
    assert handle_messages(db_session, default_bot_id(db_session), BOT, [_says(BOT, "Hello")]) == []
