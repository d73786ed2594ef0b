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
    """The bots that send: each has its own provider, credentials, audience and quota.

    Without any bot, BLAZECAST_KEYSTORE is the "default" bot, created on first use.

    \b
    Example:
      blazecast bots add shop --keystore /etc/blazecast/shop.json --quota 100000
      blazecast bots add notices --provider imrest --base-url https://api.example.com \\
          --app-id myapp --from-user-id 1099511627001 --token-file /etc/blazecast/im.token
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
@click.option(
    "--provider",
    type=click.Choice(bot_service.PROVIDERS),
    default="mixin",
    show_default=True,
    help="Mixin Messenger, or the IM REST API.",
)
@click.option(
    "--token-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="IM REST: the file holding the app's admin access token (only the path is stored).",
)
@click.option("--token-env", metavar="VARIABLE", help="IM REST: or the variable that holds it.")
@click.option("--base-url", help="IM REST: the app's API endpoint, https://…")
@click.option("--app-id", help="IM REST: the app's id.")
@click.option(
    "--from-user-id", type=int, help="IM REST: the account announcements are sent from."
)
@click.option(
    "--endpoint",
    type=click.Choice(["send", "notify"]),
    help="IM REST: /message/send (default) or /message/notify, unless an announcement says.",
)
@click.option(
    "--after-horizon",
    type=click.Choice(["mark_unknown", "resend"]),
    help="IM REST: a retry past the dedup window: report the fate unknown (default) or resend.",
)
@click.option("--retry-horizon", type=click.FloatRange(0), help="IM REST: seconds (default 60).")
@click.option(
    "--poll-delays",
    metavar="SECONDS,...",
    help="IM REST: when to poll each recipient's status after sending (default 60,600,3600,86400).",
)
@click.option(
    "--sample-above",
    type=click.IntRange(0),
    help="IM REST: audiences above this many recipients are polled through a sample (2000).",
)
@click.option(
    "--sample-margin",
    type=click.FloatRange(0, 0.5, min_open=True, max_open=True),
    help="IM REST: the sample's target 95 % half-width at p = 0.5 (default 0.02).",
)
@click.option(
    "--poll-share",
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    help="IM REST: the most of the request budget that polling may use (default 0.2).",
)
@click.option(
    "--quota",
    type=click.IntRange(2),
    help="Messages per minute for Mixin (default: the setting); requests per minute for IM REST "
    "(default 600).",
)
@click.option(
    "--transport",
    type=click.Choice(["blaze", "http"]),
    help="Mixin: how it sends (default: BLAZECAST_TRANSPORT).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the bot as JSON.")
def add(
    name: str,
    keystore: Path | None,
    keystore_env: str | None,
    provider: str,
    token_file: Path | None,
    token_env: str | None,
    quota: int | None,
    transport: str | None,
    as_json: bool,
    **imrest: object,
) -> None:
    """Add a bot named NAME.

    The key or token itself is never stored, logged or shown: only where to read it.

    \b
    Examples:
      blazecast bots add shop --keystore /etc/blazecast/shop.json
      blazecast bots add news --keystore-env NEWS_KEYSTORE --quota 50000 --transport http
      blazecast bots add notices --provider imrest --base-url https://api.example.com \\
          --app-id myapp --from-user-id 1099511627001 --token-env IM_TOKEN --quota 600
    """
    options = {k: v for k, v in imrest.items() if v is not None}
    if provider == "imrest":
        if keystore is not None or keystore_env is not None:
            raise click.UsageError("an IM REST bot takes --token-file or --token-env, no keystore")
        if (token_file is None) == (token_env is None):
            raise click.UsageError("give exactly one of --token-file FILE or --token-env VARIABLE")
        reference = f"file:{token_file}" if token_file is not None else f"env:{token_env}"
        options = {_OPTION_NAMES.get(k, k): v for k, v in options.items()}
    else:
        if options or token_file is not None or token_env is not None:
            raise click.UsageError(
                f"--{sorted(options)[0].replace('_', '-') if options else 'token-file'} is an "
                "IM REST option; add --provider imrest"
            )
        if (keystore is None) == (keystore_env is None):
            raise click.UsageError("give exactly one of --keystore FILE or --keystore-env VARIABLE")
        reference = f"file:{keystore}" if keystore is not None else f"env:{keystore_env}"
    with context.database().session() as session:
        bot_service.add_bot(
            session,
            context.settings(),
            name=name,
            credentials=reference,
            provider=provider,
            quota_per_minute=quota,
            transport=transport,
            options=options,
        )
        summary = bot_service.show_bot(session, context.settings(), name)
    if as_json:
        render.echo_json(dataclasses.asdict(summary))
        return
    click.echo(
        f"added bot {summary.name} ({summary.provider}, {summary.account_id}, "
        f"{render.count(summary.quota_per_minute)} {summary.quota_unit}/min over "
        f"{summary.transport})"
    )


#: CLI option → stored IM REST option, where the names differ.
_OPTION_NAMES = {"retry_horizon": "retry_horizon_seconds"}


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
