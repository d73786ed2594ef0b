"""Messages users send the bot: first contact subscribes them, /stop and /start toggle it.

Only the user's 1:1 conversation with the bot subscribes (the provider marks such messages
``direct``): a user who first speaks in a group is not taken on, nor welcomed there. /stop counts
wherever it is said; replies always go to the 1:1 conversation (the provider addresses them).
``SYSTEM_*`` messages (joins, leaves, calls) are never a user speaking. Users are Mixin's (only
Mixin pushes messages); their ids are compared and stored as canonical lowercase UUID text, the
form of ``recipients.user_id``. Malformed ids are ignored,
never an error: every message of the buffer is acknowledged by the listener, so a bad one is not
pushed again for ever, and it never rolls back the rest of the buffer.

All of a buffer is applied with a few set-based statements. Handling is idempotent (the provider
re-pushes a message until it is acknowledged): re-applying a buffer changes nothing, and replies
name the message they answer, from which the provider derives their ids, so a repeated reply is
shown once.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from models import Recipient, RecipientStatus
from worker.messaging.transport import IncomingMessage

STOP, START = "/stop", "/start"
WELCOME = "Hi! You will receive our announcements here. Send /stop to unsubscribe."
STOPPED = "You are unsubscribed and will receive no more announcements. Send /start to return."
STARTED = "Welcome back: you will receive our announcements again. Send /stop to unsubscribe."


@dataclass(frozen=True)
class Reply:
    """What to answer ``user_id``; the provider derives the reply's ids from ``in_reply_to``
    (the incoming message id), so a repeated reply is shown once."""

    user_id: str
    in_reply_to: str
    text: str


def command_of(message: IncomingMessage) -> str | None:
    if message.category != "PLAIN_TEXT":
        return None
    text = message.data.decode("utf-8", errors="replace").strip().lower()
    return text if text in (STOP, START) else None


def handle_messages(
    session: Session, bot: int, bot_id: str, messages: Sequence[IncomingMessage]
) -> list[Reply]:
    """Apply a buffer of user messages to bot ``bot`` (whose Mixin user id is ``bot_id``);
    return the replies to send."""
    bot_user = _canonical(bot_id)
    users = [
        (user, m)
        for m in messages
        if not m.category.startswith("SYSTEM_")
        and (user := _canonical(m.user_id)) is not None
        and user != bot_user
    ]
    if not users:
        return []
    known = set(
        session.execute(
            select(Recipient.user_id).where(
                Recipient.bot_id == bot, Recipient.user_id.in_({user for user, _ in users})
            )
        ).scalars()
    )
    # Each user's last command in the buffer wins (a /stop then /start leaves them subscribed).
    last_command: dict[str, tuple[IncomingMessage, str]] = {}
    first_contact: dict[str, IncomingMessage] = {}
    for user, message in sorted(users, key=lambda um: um[1].created_at):
        command = command_of(message)
        if command is not None and (message.direct or command == STOP):
            last_command[user] = (message, command)
        if message.direct and user not in known:
            first_contact.setdefault(user, message)

    if first_contact:
        session.execute(
            insert(Recipient)
            .values(
                [
                    {
                        "bot_id": bot,
                        "user_id": user,
                        "status": RecipientStatus.ACTIVE,
                    }
                    for user, m in first_contact.items()
                ]
            )
            .on_conflict_do_nothing(index_elements=["bot_id", "user_id"])
        )
    _set_status(
        session,
        bot,
        [u for u, (_, c) in last_command.items() if c == STOP],
        RecipientStatus.UNSUBSCRIBED,
        "sent /stop",
    )
    _set_status(
        session,
        bot,
        [u for u, (_, c) in last_command.items() if c == START],
        RecipientStatus.ACTIVE,
        None,
    )

    replies = [
        Reply(m.user_id, m.message_id, WELCOME)
        for u, m in first_contact.items()
        if u not in last_command
    ]
    replies += [
        Reply(m.user_id, m.message_id, STOPPED if c == STOP else STARTED)
        for m, c in last_command.values()
    ]
    return replies


def _set_status(
    session: Session, bot: int, user_ids: list[str], status: RecipientStatus, reason: str | None
) -> None:
    if user_ids:
        session.execute(
            update(Recipient)
            .where(Recipient.bot_id == bot, Recipient.user_id.in_(user_ids))
            .values(status=status, status_reason=reason)
        )


def _canonical(user_id: str) -> str | None:
    """The lowercase 8-4-4-4-12 text of a Mixin user id, or None if it is not one."""
    if len(user_id) != 36:
        return None
    try:
        return str(uuid.UUID(user_id))
    except ValueError:
        return None
