"""The Python API for admin scripts: create, schedule, enqueue, pause, resume, cancel, status.

    from worker.api import Audience, Blazecast

    with Blazecast.from_env() as blazecast:
        news = blazecast.enqueue(
            "Maintenance tonight, 22:00-23:00 UTC",
            key="maintenance-2026-05-01",          # the same key never sends twice
            audience=Audience.with_tags(["beta"]),
            at="2026-05-01 21:00",
            time_zone="Europe/Paris",
        )
        print(blazecast.status(news.id).sent)

Every method opens its own transaction, calls the same service functions as the CLI and the
tasks, and commits before it returns; the running workers pick the work up from Postgres.
``enqueue`` is idempotent under the caller's key, even when two scripts race: it returns the
announcement stored under that key, and refuses (``IdempotencyConflict``) if the key was used
for a different message.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError, OperationalError

from models import Announcement
from worker import bots as bot_service
from worker import progress, recipients
from worker.bots import BotSummary
from worker.broadcast import service
from worker.broadcast.service import Audience, InvalidAnnouncement
from worker.config import Settings, get_settings, redact_url
from worker.db import Database, resolve_urls
from worker.progress import AnnouncementInfo
from worker.recipient_files import open_recipient_file
from worker.recipients import ImportReport

__all__ = [
    "AnnouncementInfo",
    "Audience",
    "Blazecast",
    "BotSummary",
    "DatabaseUnavailable",
    "Enqueued",
    "IdempotencyConflict",
    "ImportReport",
]

AnnouncementRef = uuid.UUID | str | AnnouncementInfo


class DatabaseUnavailable(RuntimeError):
    """The database cannot be reached, or has no blazecast schema yet."""


class IdempotencyConflict(InvalidAnnouncement):
    """The idempotency key is already taken by an announcement with other content."""


@dataclass(frozen=True)
class Enqueued:
    """The announcement ``enqueue`` stands for, and whether this call created it."""

    announcement: AnnouncementInfo
    created: bool

    @property
    def id(self) -> uuid.UUID:
        return self.announcement.id


class Blazecast:
    """A handle on blazecast's database for scripts; close it (or use ``with``) when done."""

    def __init__(self, settings: Settings | None = None, *, database: Database | None = None):
        self.settings = settings or get_settings()
        self._owns_database = database is None
        self.db = database or Database(resolve_urls(self.settings).database, pool_size=2)
        if database is None:
            check_database(self.db)

    @classmethod
    def from_env(cls) -> Blazecast:
        """Configured from the BLAZECAST_* environment, like the ``blazecast`` command."""
        return cls(get_settings())

    def close(self) -> None:
        if self._owns_database:
            self.db.dispose()

    def __enter__(self) -> Blazecast:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()

    # --- writing ---------------------------------------------------------------------------

    def create(
        self,
        text: str | None = None,
        *,
        category: str = "PLAIN_TEXT",
        content: str | dict[str, Any] | list[Any] | None = None,
        audience: Audience | None = None,
        title: str = "",
        priority: int = 0,
        rate_per_minute: int | None = None,
        key: str | None = None,
        bot: str | None = None,
        endpoint: str | None = None,
    ) -> AnnouncementInfo:
        """Store a draft: validated, not sent until ``schedule``. ``text`` or ``content``.

        ``bot`` names the bot that sends it; it may be left out while there is one bot.
        ``endpoint`` (IM REST bots): ``send`` or ``notify``, default the bot's."""
        with self.db.session() as session:
            announcement = service.create_announcement(
                session,
                **self._sender_of(session, bot),
                category=category,
                content=_content(text, content),
                audience=audience,
                title=title,
                priority=priority,
                rate_per_minute=rate_per_minute,
                idempotency_key=key,
                schedule=False,
                endpoint=endpoint,
            )
            return progress.info_of(announcement)

    def schedule(
        self,
        announcement: AnnouncementRef,
        at: datetime | str | None = None,
        *,
        time_zone: str = "UTC",
    ) -> AnnouncementInfo:
        """Send a draft (or a paused, not yet started one) at ``at`` in ``time_zone``, or now."""
        when = service.resolve_time(at, time_zone)
        with self.db.session() as session:
            announcement_id = self._id(session, announcement)
            service.schedule(session, announcement_id, when)
            return progress.get_info(session, announcement_id)

    def enqueue(
        self,
        text: str | None = None,
        *,
        key: str,
        category: str = "PLAIN_TEXT",
        content: str | dict[str, Any] | list[Any] | None = None,
        audience: Audience | None = None,
        at: datetime | str | None = None,
        time_zone: str = "UTC",
        title: str = "",
        priority: int = 0,
        rate_per_minute: int | None = None,
        bot: str | None = None,
        endpoint: str | None = None,
    ) -> Enqueued:
        """Create and schedule in one step, once per ``key``: calling it again returns the same
        announcement (``created=False``) and sends nothing more."""
        if not key or not key.strip():
            raise InvalidAnnouncement("key: give an idempotency key, e.g. 'newsletter-2026-05'")
        service.check_lengths(key=key, title=title)
        body = _content(text, content)
        arguments = dict(
            category=category,
            content=body,
            audience=audience,
            at=at,
            time_zone=time_zone,
            title=title,
            priority=priority,
            rate_per_minute=rate_per_minute,
            endpoint=endpoint,
        )
        existing = self._by_key(key)
        if existing is None:
            try:
                with self.db.session() as session:
                    # The key is set on a row this call inserted, so created=True means exactly
                    # that: the service would hand back a row another caller committed meanwhile.
                    created = service.create_announcement(
                        session,
                        **self._sender_of(session, bot),
                        **arguments,  # type: ignore[arg-type]
                    )
                    created.idempotency_key = key
                    session.flush()
                    return Enqueued(progress.info_of(created), created=True)
            except IntegrityError:
                existing = self._by_key(key)  # another caller stored it first
                if existing is None:
                    raise
        if existing.category != category or existing.content != body:
            raise IdempotencyConflict(
                f"key: {key!r} was already used for announcement {existing.id} "
                "with a different message; use a new key"
            )
        return Enqueued(progress.info_of(existing), created=False)

    def pause(self, announcement: AnnouncementRef) -> AnnouncementInfo:
        """Stop sending within about a second; ``resume`` continues without re-sending."""
        return self._act(announcement, service.pause)

    def resume(self, announcement: AnnouncementRef) -> AnnouncementInfo:
        return self._act(announcement, service.resume)

    def cancel(self, announcement: AnnouncementRef) -> AnnouncementInfo:
        """Stop for good: whoever has not been sent the message yet never will be."""
        return self._act(announcement, service.cancel)

    def import_users(
        self, path: str | Path, *, max_errors: int = 100, bot: str | None = None
    ) -> ImportReport:
        """Import a CSV or JSON-lines file of users (see ``worker.recipient_files``) as
        recipients of ``bot``, atomically."""
        source = open_recipient_file(Path(path))
        with self.db.session() as session:
            found = bot_service.resolve_bot(session, self.settings, bot)
            return recipients.import_recipients(
                session,
                source.rows(bot_service.user_id_checker(found.provider)),
                bot_id=found.id,
                max_errors=max_errors,
            )

    def add_bot(
        self,
        name: str,
        *,
        credentials: str,
        quota_per_minute: int | None = None,
        transport: str | None = None,
    ) -> BotSummary:
        """Add a Mixin bot; ``credentials`` is ``file:<keystore path>`` or ``env:<VARIABLE>``
        (the key is read to check it, and never stored)."""
        with self.db.session() as session:
            bot_service.add_bot(
                session,
                self.settings,
                name=name,
                credentials=credentials,
                quota_per_minute=quota_per_minute,
                transport=transport,
            )
            return bot_service.show_bot(session, self.settings, name)

    def bots(self) -> list[BotSummary]:
        with self.db.session() as session:
            return bot_service.list_bots(session, self.settings)

    def disable_bot(self, name: str) -> BotSummary:
        """Disable a bot that has nothing scheduled, sending or paused."""
        with self.db.session() as session:
            bot_service.disable_bot(session, name)
            return bot_service.show_bot(session, self.settings, name)

    # --- reading ---------------------------------------------------------------------------

    def status(self, announcement: AnnouncementRef) -> AnnouncementInfo:
        """Where it stands now: status, and sent / delivered / read / failed counters."""
        with self.db.session() as session:
            return progress.get_info(session, self._id(session, announcement))

    def announcements(
        self, *, limit: int = 20, include_tests: bool = False
    ) -> list[AnnouncementInfo]:
        """The most recent announcements, newest first."""
        with self.db.session() as session:
            return progress.list_infos(session, limit=limit, include_tests=include_tests)

    def find(self, key: str) -> AnnouncementInfo | None:
        """The announcement stored under an idempotency key, if any."""
        found = self._by_key(key)
        return progress.info_of(found) if found is not None else None

    # --- helpers ---------------------------------------------------------------------------

    def _sender_of(self, session: Any, name: str | None) -> dict[str, Any]:
        bot = bot_service.resolve_bot(session, self.settings, name)
        return {"bot_id": bot.id, "provider": bot_service.provider_of(bot, self.settings)}

    def _act(self, announcement: AnnouncementRef, action: Any) -> AnnouncementInfo:
        with self.db.session() as session:
            announcement_id = self._id(session, announcement)
            action(session, announcement_id)
            return progress.get_info(session, announcement_id)

    @staticmethod
    def _id(session: Any, announcement: AnnouncementRef) -> uuid.UUID:
        if isinstance(announcement, AnnouncementInfo):
            return announcement.id
        if isinstance(announcement, uuid.UUID):
            return announcement
        return progress.resolve_id(session, announcement)

    def _by_key(self, key: str) -> Announcement | None:
        with self.db.session() as session:
            found: Announcement | None = session.execute(
                select(Announcement).where(Announcement.idempotency_key == key)
            ).scalar_one_or_none()
            return found


def check_database(db: Database) -> None:
    """Raise ``DatabaseUnavailable`` unless the database answers and has been migrated."""
    try:
        with db.engine.connect() as connection:
            table = connection.execute(text("SELECT to_regclass('announcements')")).scalar()
    except OperationalError as error:
        first = str(error.orig).strip().splitlines()[0] if error.orig else str(error)
        raise DatabaseUnavailable(
            f"cannot reach the database at {redact(db.url)}: {first}"
        ) from None
    if table is None:
        raise DatabaseUnavailable(
            f"the database at {redact(db.url)} has no blazecast tables; "
            "run `blazecast db upgrade` first"
        )


def redact(url: str) -> str:
    """The URL without its password, for messages."""
    return redact_url(url)


def _content(
    text: str | None, content: str | dict[str, Any] | list[Any] | None
) -> str | dict[str, Any] | list[Any]:
    if (text is None) == (content is None):
        raise InvalidAnnouncement("content: give either text or content, not both or neither")
    return text if text is not None else content  # type: ignore[return-value]
