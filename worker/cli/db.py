"""``blazecast db``: the schema."""

from __future__ import annotations

import click

from worker import migrate
from worker.config import get_settings
from worker.db import resolve_urls


@click.group()
def db() -> None:
    """The database schema (Alembic migrations).

    \b
    Example:
      blazecast db upgrade && blazecast db check
    """


@db.command()
def upgrade() -> None:
    """Apply every pending migration; running it again changes nothing.

    \b
    Example:
      BLAZECAST_DATABASE_URL=postgresql://postgres@127.0.0.1/blazecast blazecast db upgrade
    """
    url = resolve_urls(get_settings()).database
    before = migrate.current(url)
    migrate.upgrade(url)
    after = migrate.current(url)
    if before == after:
        click.echo(f"database already at revision {after}")
    else:
        click.echo(f"database upgraded from {before or 'empty'} to {after}")


@db.command()
def check() -> None:
    """Fail if the models and the migrated schema differ (alembic check).

    \b
    Example:
      blazecast db check
    """
    migrate.check(resolve_urls(get_settings()).database)
    click.echo("schema matches the models")
