"""Factories for rows: recipients in bulk, announcements through the real service function."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from models import Announcement, Recipient, RecipientStatus
from worker.broadcast import service
from worker.broadcast.service import Audience


def add_recipients(
    session: Session,
    count: int,
    *,
    tags: Sequence[str] = (),
    status: RecipientStatus = RecipientStatus.ACTIVE,
    user_ids: Sequence[str] | None = None,
) -> list[str]:
    """Insert recipients in one statement; return their user ids (as strings)."""
    ids = list(user_ids) if user_ids is not None else [str(uuid.uuid4()) for _ in range(count)]
    if not ids:
        return ids
    session.execute(
        insert(Recipient),
        [{"user_id": uuid.UUID(u), "status": status, "tags": list(tags)} for u in ids],
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
    announcement = service.create_announcement(session, content=text, audience=audience, **kwargs)
    session.flush()
    return announcement
