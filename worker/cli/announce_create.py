"""``blazecast announce create``: validate and store an announcement, or only show what it
would do (``--dry-run``), or send a test copy to a few users first (``--test-to``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import click
from rich.text import Text
from sqlalchemy.orm import Session

from worker import bots, progress
from worker.api import Blazecast
from worker.broadcast import service
from worker.broadcast.service import Audience
from worker.cli import context, render
from worker.cli.announce_input import (
    Draft,
    Files,
    build_draft,
    parse_audience,
    read_spec_file,
)

TEST_PRIORITY = 100  # test sends overtake every real backlog


@click.command()
@click.option("--text", help="The message text (PLAIN_TEXT, or the JSON of --category).")
@click.option(
    "--post",
    "post_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A Markdown file sent as PLAIN_POST.",
)
@click.option("--category", help="The message category, e.g. APP_CARD (with --data).")
@click.option(
    "--data",
    "data_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A JSON file with the payload of --category.",
)
@click.option(
    "--file",
    "spec_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A JSON or YAML file with all of the above (flags override it).",
)
@click.option(
    "--allow-outside-files",
    is_flag=True,
    help="Let --file name files outside its own folder (refused by default).",
)
@click.option("--title", help="A title for operators (default: the first line of the text).")
@click.option(
    "--audience",
    help="all (default), tags:vip,beta (anyone with one of the tags) or file:ids.txt.",
)
@click.option("--at", help="When to send, e.g. '2026-05-01 09:00' (default: now).")
@click.option("--tz", "--time-zone", "time_zone", help="Time zone of --at (default UTC).")
@click.option("--priority", type=click.IntRange(-100, 100), help="Higher goes first (default 0).")
@click.option("--rate", type=click.IntRange(2), help="At most this many messages per minute.")
@click.option("--key", help="Idempotency key: the same key never creates a second announcement.")
@click.option(
    "--endpoint",
    type=click.Choice(["send", "notify"]),
    help="IM REST bots: a chat message (send) or a system notification (notify); default: the "
    "bot's.",
)
@click.option(
    "--draft", is_flag=True, help="Store it without scheduling (see `announce schedule`)."
)
@click.option(
    "--dry-run", is_flag=True, help="Show audience, duration and a preview; store nothing."
)
@click.option(
    "--test-to",
    "test_to",
    multiple=True,
    metavar="USER_ID",
    help="Send only a test copy to these users now; the real announcement is not stored.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@context.bot_option
def create(**options: Any) -> None:
    """Create an announcement: validated, stored and scheduled (for --at, or now).

    \b
    Examples:
      blazecast announce create --text "Hello 👋" --dry-run
      blazecast announce create --post news.md --audience tags:beta --at "2026-05-01 09:00" --tz Europe/Paris
      blazecast announce create --category APP_CARD --data card.json --rate 3000 --priority 5
      blazecast announce create --file spring-sale.yaml --test-to 7b3f0c8e-2f41-4a8e-9a55-0d7c6f1f4b11
    """
    draft = _draft(options)
    bot = options["bot_name"]
    if options["dry_run"]:
        _dry_run(draft, bot, options["as_json"])
    elif options["test_to"]:
        _send_test(draft, bot, options["test_to"], options["as_json"])
    else:
        _create(draft, bot, schedule=not options["draft"], as_json=options["as_json"])


def _draft(options: dict[str, Any]) -> Draft:
    spec: dict[str, Any] = {}
    files = Files()
    if options["spec_file"] is not None:
        spec = read_spec_file(options["spec_file"])
        files = Files(options["spec_file"].parent, confined=not options["allow_outside_files"])
    flags = {
        "text": options["text"],
        "post_file": options["post_file"],
        "data_file": options["data_file"],
        "category": options["category"],
        "title": options["title"],
        "at": options["at"],
        "time_zone": options["time_zone"],
        "priority": options["priority"],
        "rate": options["rate"],
        "key": options["key"],
        "endpoint": options["endpoint"],
    }
    given = {k: v for k, v in flags.items() if v is not None}
    if given.keys() & {"text", "post_file", "data_file"}:
        # Content from a flag replaces whatever content the file had.
        for content_key in ("text", "post", "post_file", "data", "data_file"):
            spec.pop(content_key, None)
    # Paths in the file are text, relative to it and confined to its folder; paths given as flags
    # stay Paths, relative to the working directory (the operator typed them).
    spec.update({k: v.resolve() if isinstance(v, Path) else v for k, v in given.items()})
    draft = build_draft(spec, files=files)
    if options["audience"] is not None:
        draft.audience = parse_audience(options["audience"])
    return draft


def _arguments(draft: Draft) -> dict[str, Any]:
    return {
        "category": draft.category,
        "content": draft.content,
        "audience": draft.audience,
        "at": draft.at,
        "time_zone": draft.time_zone,
        "priority": draft.priority,
        "rate_per_minute": draft.rate_per_minute,
        "title": draft.title,
        "endpoint": draft.endpoint,
    }


def _sender(session: Session, bot_name: str | None) -> dict[str, Any]:
    """The bot that sends, and its provider, as ``create_announcement`` takes them."""
    bot = context.bot(session, bot_name)
    return {"bot_id": bot.id, "provider": bots.provider_of(bot, context.settings())}


def _create(draft: Draft, bot_name: str | None, *, schedule: bool, as_json: bool) -> None:
    db = context.database()
    blazecast = Blazecast(context.settings(), database=db)
    if draft.key is not None and schedule:
        enqueued = blazecast.enqueue(key=draft.key, bot=bot_name, **_arguments(draft))
        info, created = enqueued.announcement, enqueued.created
    elif draft.key is not None and (existing := blazecast.find(draft.key)) is not None:
        info, created = existing, False
    else:
        with db.session() as session:
            announcement = service.create_announcement(
                session,
                **_sender(session, bot_name),
                **_arguments(draft),
                idempotency_key=draft.key,
                schedule=schedule,
            )
            info, created = progress.info_of(announcement), True
    if as_json:
        render.echo_json({**info.to_json(), "created": created})
        return
    verb = "created" if created else "already exists (same --key); nothing new was created:"
    if info.scheduled_at is None:
        click.echo(f"{verb} announcement {info.id} (a draft: `announce schedule` sends it)")
    else:
        click.echo(
            f"{verb} announcement {info.id} ({info.status.value} for {render.when(info.scheduled_at)})"
        )
    if created and info.scheduled_at is not None:
        context.warn_if_nothing_sends(past=info.scheduled_at if draft.at else None)


def _dry_run(draft: Draft, bot_name: str | None, as_json: bool) -> None:
    """Validate exactly as a real create would, inside a transaction that is rolled back."""
    settings = context.settings()
    with context.database().sessions() as session:
        try:
            announcement = service.create_announcement(
                session, **_sender(session, bot_name), **_arguments(draft)
            )
            size = progress.audience_size(session, announcement)
            ahead = progress.backlog_ahead(session, draft.priority)
            scheduled_at = announcement.scheduled_at if draft.at else None
        finally:
            session.rollback()
    rate = progress.sending_rate(settings, draft.rate_per_minute)
    seconds = size.reachable / rate
    if as_json:
        render.echo_json(
            {
                "stored": False,
                "audience": size.reachable,
                "skipped": size.inactive,
                "seconds": round(seconds, 1),
                "messages_per_minute": round(rate * 60),
                "queued_ahead": ahead,
                "scheduled_at": scheduled_at,
                "category": draft.category,
                "content": draft.content,
            }
        )
        return
    out = render.console()
    out.print(Text.assemble(("dry run", "bold"), ": nothing was stored"))
    skipped = f" ({render.count(size.inactive)} unsubscribed or unreachable would be skipped)"
    out.print(f"audience      {render.counted(size.reachable, 'recipient')}" + skipped)
    cap = (
        f", capped by --rate {render.count(draft.rate_per_minute)}" if draft.rate_per_minute else ""
    )
    out.print(
        f"sending time  about {render.duration(seconds)} at {render.count(rate * 60)} messages/min "
        f"(quota {render.count(settings.quota_per_minute)}/min{cap})"
    )
    if ahead:
        out.print(f"queued ahead  {render.count(ahead)} messages of announcements being sent")
    starts = "now"
    if scheduled_at is not None:
        local = scheduled_at.astimezone(ZoneInfo(draft.time_zone))
        starts = f"{render.when(scheduled_at)} ({local:%Y-%m-%d %H:%M} {draft.time_zone})"
    out.print(f"starts        {starts}")
    out.print(render.message_preview(draft.category, draft.content))


def _send_test(draft: Draft, bot_name: str | None, test_to: tuple[str, ...], as_json: bool) -> None:
    """A separate announcement (``is_test``) to the named users: its own message ids, its own
    counters, hidden from ``announce list``; the real one is not stored."""
    arguments = _arguments(draft)
    arguments.update(audience=Audience.users(list(test_to)), at=None, priority=TEST_PRIORITY)
    with context.database().session() as session:
        test = service.create_announcement(
            session, **_sender(session, bot_name), **arguments, is_test=True
        )
        test.title = f"[test] {test.title}"[:200]
        session.flush()
        info = progress.info_of(test)
    if as_json:
        render.echo_json(info.to_json())
        return
    click.echo(
        f"test announcement {info.id} is scheduled now for {render.counted(len(set(test_to)), 'user')}; "
        f"follow it with `blazecast announce status {info.id} --watch`. "
        "Nothing else was stored: run the same command without --test-to to send it for real."
    )
    context.warn_if_nothing_sends()
