"""Messages users send the bot: first contact subscribes them, /stop and /start toggle it.

Only the user's 1:1 conversation with the bot counts: its id is always derived
(UniqueConversationId(bot, user)), never taken from the message, so that a user who first speaks
in a group never has the group stored as theirs. A message from any other conversation (a group)
is ignored, except /stop, which the user may say anywhere; ``SYSTEM_*`` messages (joins, leaves,
calls) are never a user speaking. Malformed ids are ignored, never an error: every message of the
buffer is acknowledged by the listener, so a bad one is not pushed again for ever.

All of a buffer is applied with a few set-based statements. Handling is idempotent (the provider
re-pushes a message until it is acknowledged): re-applying a buffer changes nothing, and replies
carry message ids derived from the incoming message, so a repeated reply is shown once.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from models import Recipient, RecipientStatus
from worker.messaging.mixin.ids import unique_conversation_id, unique_object_id
from worker.messaging.transport import IncomingMessage

STOP, START = "/stop", "/start"
WELCOME = "Hi! You will receive our announcements here. Send /stop to unsubscribe."
STOPPED = "You are unsubscribed and will receive no more announcements. Send /start to return."
STARTED = "Welcome back: you will receive our announcements again. Send /stop to unsubscribe."


@dataclass(frozen=True)
class Reply:
    user_id: str
    conversation_id: str
    message_id: str
    text: str


def command_of(message: IncomingMessage) -> str | None:
    if message.category != "PLAIN_TEXT":
        return None
    text = message.data.decode("utf-8", errors="replace").strip().lower()
    return text if text in (STOP, START) else None


def handle_messages(
    session: Session, bot_id: str, messages: Sequence[IncomingMessage]
) -> list[Reply]:
    """Apply a buffer of user messages; return the replies to send."""
    users = [m for m in messages if _counts(m, bot_id)]
    if not users:
        return []
    known = set(
        session.execute(
            select(Recipient.user_id).where(
                Recipient.user_id.in_({uuid.UUID(m.user_id) for m in users})
            )
        ).scalars()
    )
    # Each user's last command in the buffer wins (a /stop then /start leaves them subscribed).
    last_command: dict[str, tuple[IncomingMessage, str]] = {}
    first_contact: dict[str, IncomingMessage] = {}
    for message in sorted(users, key=lambda m: m.created_at):
        direct = _is_direct(message, bot_id)
        command = command_of(message)
        if command is not None and (direct or command == STOP):
            last_command[message.user_id] = (message, command)
        if direct and uuid.UUID(message.user_id) not in known:
            first_contact.setdefault(message.user_id, message)

    if first_contact:
        session.execute(
            insert(Recipient)
            .values(
                [
                    {
                        "user_id": uuid.UUID(user),
                        "conversation_id": uuid.UUID(unique_conversation_id(bot_id, user)),
                        "status": RecipientStatus.ACTIVE,
                    }
                    for user, m in first_contact.items()
                ]
            )
            .on_conflict_do_nothing(index_elements=["user_id"])
        )
    _set_status(
        session,
        [u for u, (_, c) in last_command.items() if c == STOP],
        RecipientStatus.UNSUBSCRIBED,
        "sent /stop",
    )
    _set_status(
        session,
        [u for u, (_, c) in last_command.items() if c == START],
        RecipientStatus.ACTIVE,
        None,
    )

    replies = [
        _reply(bot_id, m, WELCOME) for u, m in first_contact.items() if u not in last_command
    ]
    replies += [
        _reply(bot_id, m, STOPPED if c == STOP else STARTED) for m, c in last_command.values()
    ]
    return replies


def _set_status(
    session: Session, user_ids: list[str], status: RecipientStatus, reason: str | None
) -> None:
    if user_ids:
        session.execute(
            update(Recipient)
            .where(Recipient.user_id.in_([uuid.UUID(u) for u in user_ids]))
            .values(status=status, status_reason=reason)
        )


def _reply(bot_id: str, message: IncomingMessage, text: str) -> Reply:
    return Reply(
        user_id=message.user_id,
        # Always the 1:1 conversation: a reply to a /stop said in a group goes to the user alone.
        conversation_id=unique_conversation_id(bot_id, message.user_id),
        message_id=unique_object_id(message.message_id, "blazecast-reply"),
        text=text,
    )


def _counts(message: IncomingMessage, bot_id: str) -> bool:
    """A message from a user (not the bot itself, not the system) with well-formed ids."""
    if message.category.startswith("SYSTEM_"):
        return False
    return _is_uuid(message.user_id) and message.user_id.lower() != bot_id.lower()


def _is_direct(message: IncomingMessage, bot_id: str) -> bool:
    """Said in the user's 1:1 conversation with the bot."""
    return message.conversation_id.lower() == unique_conversation_id(bot_id, message.user_id)


def _is_uuid(value: str) -> bool:
    try:
        return len(value) == 36 and bool(uuid.UUID(value))
    except ValueError:
        return False
