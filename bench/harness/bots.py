"""The bots a bench sends as: rows made the way operators make them, and announcements for them.

One bot is the zero-configuration ``default`` bot (its key is ``BLAZECAST_KEYSTORE``), as in the
quick start; several are added with ``worker.bots.add_bot`` (``blazecast bots add``), each with a
``file:`` reference to one of the simulator's keystores and its own quota. Announcements are
stored through the service function the CLI and the Python API use, with the bot's provider
validating the content.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select

from models import Bot
from worker.bots import add_bot, ensure_default_bot, provider_of
from worker.broadcast import service
from worker.config import Settings
from worker.db import Database


@dataclass(frozen=True)
class BenchBot:
    """A bot's row id and name, the provider's id of it (the keystore's ``app_id``), and its key."""

    id: int
    name: str
    account_id: str
    keystore_path: Path


def account_of(keystore_path: Path) -> str:
    return str(json.loads(keystore_path.read_text())["app_id"])


def default_bot(database: Database, keystore_path: Path | None) -> BenchBot:
    """The ``default`` bot row (created if missing); its key is BLAZECAST_KEYSTORE."""
    with database.session() as session:
        row = ensure_default_bot(session)
        bot_id = row.id
    account = account_of(keystore_path) if keystore_path else ""
    return BenchBot(bot_id, "default", account, keystore_path or Path())


def add_bots(
    database: Database, settings: Settings, keystores: list[Path], *, quota_per_minute: int
) -> list[BenchBot]:
    """``bot-1`` … ``bot-N``, one per keystore, each with its own quota (``blazecast bots add``)."""
    added = []
    with database.session() as session:
        for number, path in enumerate(keystores, start=1):
            row = add_bot(
                session,
                settings,
                name=f"bot-{number}",
                credentials=f"file:{path}",
                quota_per_minute=quota_per_minute,
            )
            added.append(BenchBot(row.id, row.name, account_of(path), path))
    return added


def create_announcement(
    database: Database, settings: Settings, bot_id: int, text: str, **kwargs: Any
) -> uuid.UUID:
    """Store (and, unless ``schedule=False``, schedule for now) a PLAIN_TEXT announcement of the
    bot, through the service function the CLI uses."""
    with database.session() as session:
        bot = session.execute(select(Bot).where(Bot.id == bot_id)).scalar_one()
        announcement = service.create_announcement(
            session,
            bot_id=bot.id,
            provider=provider_of(bot, settings),
            category="PLAIN_TEXT",
            content=text,
            **kwargs,
        )
        return announcement.id


def bench_settings(database_url: str, redis_url: str, **overrides: Any) -> Settings:
    """Settings for the bench process itself (the child processes read theirs from the
    environment ``stack_env`` builds)."""
    return Settings(database_url=database_url, redis_url=redis_url, **overrides)
