"""Factories for rows: recipients in bulk, announcements through the real service function."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from models import Announcement, Recipient, RecipientStatus
from worker import bots
from worker.broadcast import service
from worker.broadcast.service import Audience
from worker.messaging.mixin.keystore import Keystore, keystore_from_mapping
from worker.messaging.mixin.provider import MixinProvider

#: The Mixin user id of the tests' bot (its keystore's app_id).
BOT_USER_ID = "8a7e1f2c-0d3b-4c5a-9e6f-1a2b3c4d5e6f"


def bot_keystore() -> Keystore:
    """A keystore for ``BOT_USER_ID`` (a fixed test seed: it signs nothing real)."""
    return keystore_from_mapping(
        {
            "app_id": BOT_USER_ID,
            "session_id": "22222222-2222-4222-8222-222222222222",
            "session_private_key": bytes(range(32)).hex(),
        }
    )


def provider() -> MixinProvider:
    """The tests' bot's provider (Mixin, key from ``bot_keystore``)."""
    return MixinProvider(bot_keystore)


def default_bot_id(session: Session) -> int:
    """The id of the zero-configuration default bot, created on first use."""
    return bots.ensure_default_bot(session).id


def add_recipients(
    session: Session,
    count: int,
    *,
    tags: Sequence[str] = (),
    status: RecipientStatus = RecipientStatus.ACTIVE,
    user_ids: Sequence[str] | None = None,
    bot_id: int | None = None,
) -> list[str]:
    """Insert recipients of ``bot_id`` (the default bot) in one statement; return their user ids
    (as strings)."""
    ids = list(user_ids) if user_ids is not None else [str(uuid.uuid4()) for _ in range(count)]
    if not ids:
        return ids
    bot = bot_id if bot_id is not None else default_bot_id(session)
    session.execute(
        insert(Recipient),
        [
            {"bot_id": bot, "user_id": u, "status": status, "tags": list(tags)}
            for u in ids
        ],
    )
    session.flush()
    return ids


def add_announcement(
    session: Session,
    text: str = "Maintenance tonight 22:00-23:00 UTC",
    *,
    audience: Audience | None = None,
    **kwargs: Any,
) -> Announcement:
    kwargs.setdefault("category", "PLAIN_TEXT")
    if "bot_id" not in kwargs:
        kwargs["bot_id"] = default_bot_id(session)
    kwargs.setdefault("provider", provider())
    announcement = service.create_announcement(session, content=text, audience=audience, **kwargs)
    session.flush()
    return announcement
