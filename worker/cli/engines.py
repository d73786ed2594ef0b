"""``blazecast engines``: the embedded Postgres and Redis used when no URL is configured."""

from __future__ import annotations

import click

from worker import embedded
from worker.config import get_settings


@click.group()
def engines() -> None:
    """The embedded Postgres and Redis under BLAZECAST_HOME, used when no URL is configured.

    \b
    Example:
      blazecast engines stop
    """


@engines.command()
def stop() -> None:
    """Stop the embedded Postgres and Redis now, even if processes still use them.

    \b
    Example:
      blazecast engines stop
    """
    settings = get_settings()
    embedded.stop_engines(settings.home)
    click.echo(f"embedded engines under {settings.home.resolve()} stopped")
