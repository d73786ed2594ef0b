"""``blazecast bots``: the bots that send, each with its provider, quota and credentials reference."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import click
from rich.markup import escape
from rich.table import Table

from worker import bots as bot_service
from worker.cli import context, render


@click.group()
def bots() -> None:
    """The bots that send: each has its own keystore, audience and quota.

    Without any bot, BLAZECAST_KEYSTORE is the "default" bot, created on first use.

    \b
    Example:
      blazecast bots add shop --keystore /etc/blazecast/shop.json --quota 100000
      blazecast bots list
    """


@bots.command()
@click.argument("name")
@click.option(
    "--keystore",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The bot's Mixin keystore JSON file (read to check it; only the path is stored).",
)
@click.option(
    "--keystore-env",
    metavar="VARIABLE",
    help="Or: the environment variable that holds the keystore JSON (in every process).",
)
@click.option("--quota", type=click.IntRange(2), help="Messages per minute (default: the setting).")
@click.option(
    "--transport",
    type=click.Choice(["blaze", "http"]),
    help="How it sends (default: BLAZECAST_TRANSPORT).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the bot as JSON.")
def add(
    name: str,
    keystore: Path | None,
    keystore_env: str | None,
    quota: int | None,
    transport: str | None,
    as_json: bool,
) -> None:
    """Add a Mixin bot named NAME.

    The key itself is never stored, logged or shown: only where to read it.

    \b
    Examples:
      blazecast bots add shop --keystore /etc/blazecast/shop.json
      blazecast bots add news --keystore-env NEWS_KEYSTORE --quota 50000 --transport http
    """
    if (keystore is None) == (keystore_env is None):
        raise click.UsageError("give exactly one of --keystore FILE or --keystore-env VARIABLE")
    reference = f"file:{keystore}" if keystore is not None else f"env:{keystore_env}"
    with context.database().session() as session:
        bot_service.add_bot(
            session,
            context.settings(),
            name=name,
            credentials=reference,
            quota_per_minute=quota,
            transport=transport,
        )
        summary = bot_service.show_bot(session, context.settings(), name)
    if as_json:
        render.echo_json(dataclasses.asdict(summary))
        return
    click.echo(
        f"added bot {summary.name} ({summary.provider}, {summary.account_id}, "
        f"{render.count(summary.quota_per_minute)} messages/min over {summary.transport})"
    )


@bots.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per line.")
def list_(as_json: bool) -> None:
    """List the bots.

    \b
    Example:
      blazecast bots list
    """
    with context.database().session() as session:
        found = bot_service.list_bots(session, context.settings())
    if as_json:
        for summary in found:
            render.echo_json(dataclasses.asdict(summary), one_line=True)
        return
    if not found:
        click.echo(
            "no bots yet: `blazecast bots add NAME --keystore FILE`, or set BLAZECAST_KEYSTORE"
        )
        return
    table = Table(box=None)
    for column in ("name", "provider", "quota/min", "transport", "credentials", "active", "state"):
        table.add_column(column)
    for s in found:
        table.add_row(
            escape(s.name),
            s.provider,
            render.count(s.quota_per_minute),
            s.transport,
            escape(s.credentials),
            str(s.announcements_active),
            _state(s),
        )
    render.console().print(table)


@bots.command()
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def show(name: str, as_json: bool) -> None:
    """Show one bot.

    \b
    Example:
      blazecast bots show shop
    """
    with context.database().session() as session:
        summary = bot_service.show_bot(session, context.settings(), name)
    if as_json:
        render.echo_json(dataclasses.asdict(summary))
        return
    for field in dataclasses.fields(summary):
        value = getattr(summary, field.name)
        click.echo(f"{field.name:<22}{'' if value is None else value}")


@bots.command()
@click.argument("name")
def disable(name: str) -> None:
    """Disable a bot: it sends nothing more and takes no new announcement. Refused while it has
    announcements scheduled, sending or paused (cancel them first).

    \b
    Example:
      blazecast bots disable old-shop
    """
    with context.database().session() as session:
        bot = bot_service.disable_bot(session, name)
        click.echo(f"bot {bot.name} is disabled")


def _state(summary: bot_service.BotSummary) -> str:
    if summary.disabled:
        return "disabled"
    if summary.halted_reason:
        return f"halted: {escape(summary.halted_reason)}"
    return "ok"


COMMANDS = [bots]
