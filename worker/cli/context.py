"""What the operator commands share: the settings and one database handle per invocation.

The database is opened on first use (so ``--help`` and input errors never start an engine) and
closed when the command ends. Before the first query it checks that the database answers and
holds blazecast's tables, so that a wrong URL or a forgotten ``blazecast db upgrade`` is one
clear line instead of a driver traceback.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

import click
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from worker.config import Settings, get_settings
from worker.db import Database, resolve_urls


class DatabaseUnavailable(RuntimeError):
    """The database cannot be reached, or has no blazecast schema yet."""


def settings() -> Settings:
    return get_settings()


def database() -> Database:
    """The command's database, opened once and closed when the command ends."""
    context = click.get_current_context()
    root = context.find_root()
    found = root.meta.get("blazecast.database")
    if isinstance(found, Database):
        return found
    db = Database(resolve_urls(settings()).database, pool_size=2)
    root.call_on_close(db.dispose)
    check_schema(db)
    root.meta["blazecast.database"] = db
    return db


def check_schema(db: Database) -> None:
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
    parts = urlsplit(url)
    if not parts.password:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))
