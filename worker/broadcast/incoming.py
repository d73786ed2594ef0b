"""Messages users send the bot: first contact subscribes them, /stop and /start toggle it.

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
    users = [m for m in messages if _is_user(m.user_id, bot_id)]
    if not users:
        return []
    known = set(
        session.execute(
            select(Recipient.user_id).where(
                Recipient.bot_id == bot,
                Recipient.user_id.in_({uuid.UUID(m.user_id) for m in users}),
            )
        ).scalars()
    )
    # Each user's last command in the buffer wins (a /stop then /start leaves them subscribed).
    last_command: dict[str, tuple[IncomingMessage, str]] = {}
    first_contact: dict[str, IncomingMessage] = {}
    for message in sorted(users, key=lambda m: m.created_at):
        command = command_of(message)
        if command is not None:
            last_command[message.user_id] = (message, command)
        if uuid.UUID(message.user_id) not in known:
            first_contact.setdefault(message.user_id, message)

    if first_contact:
        session.execute(
            insert(Recipient)
            .values(
                [
                    {
                        "bot_id": bot,
                        "user_id": uuid.UUID(user),
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
            .where(Recipient.bot_id == bot, Recipient.user_id.in_([uuid.UUID(u) for u in user_ids]))
            .values(status=status, status_reason=reason)
        )


def _is_user(user_id: str, bot_id: str) -> bool:
    try:
        return uuid.UUID(user_id) != uuid.UUID(bot_id)
    except ValueError:
        return False
