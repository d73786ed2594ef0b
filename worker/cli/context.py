"""What the operator commands share: the settings and one database handle per invocation.

The database is opened on first use (so ``--help`` and input errors never start an engine) and
closed when the command ends. Before the first query it checks that the database answers and
holds blazecast's tables (``worker.api.check_database``), so that a wrong URL or a forgotten
``blazecast db upgrade`` is one clear line instead of a driver traceback.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import click
import redis
from sqlalchemy.orm import Session

from models import Bot
from worker import liveness
from worker.api import check_database
from worker.bots import resolve_bot
from worker.config import Settings, get_settings
from worker.db import Database, make_redis, resolve_urls


def settings() -> Settings:
    return get_settings()


def warn_if_nothing_sends(*, past: datetime | None = None) -> None:
    """On stderr: a scheduled time already past, and no beat or no send worker running (an
    announcement would sit in ``scheduled`` for ever). Never fails the command."""
    if past is not None and past < datetime.now(UTC) - timedelta(seconds=60):
        click.echo(f"note: {past:%Y-%m-%d %H:%M} UTC is in the past: it is due now", err=True)
    try:
        client = make_redis(resolve_urls(settings()).redis)
        try:
            found = liveness.check(client)
        finally:
            client.close()
    except redis.RedisError:
        return
    for problem in found.problems():
        click.echo(f"warning: {problem}", err=True)


def database() -> Database:
    """The command's database, opened once and closed when the command ends."""
    context = click.get_current_context()
    root = context.find_root()
    found = root.meta.get("blazecast.database")
    if isinstance(found, Database):
        return found
    db = Database(resolve_urls(settings()).database, pool_size=2)
    root.call_on_close(db.dispose)
    check_database(db)
    root.meta["blazecast.database"] = db
    return db


def bot_option(function: Any) -> Any:
    """``--bot NAME``: which bot the command is about (optional while there is one bot)."""
    return click.option(
        "--bot",
        "bot_name",
        metavar="NAME",
        help="The bot (see `blazecast bots list`); optional while there is only one.",
    )(function)


def bot(session: Session, name: str | None) -> Bot:
    """The bot a command means (``worker.bots.resolve_bot``)."""
    return resolve_bot(session, settings(), name)
