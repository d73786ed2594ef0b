"""``blazecast users``: import the audience, list and inspect it, unsubscribe people."""

from __future__ import annotations

from pathlib import Path

import click
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn
from sqlalchemy import select

from models import Announcement, Delivery, Recipient, RecipientStatus
from worker import recipients
from worker.bots import user_id_checker
from worker.cli import context, render
from worker.recipient_files import RowError, open_recipient_file
from worker.user_id_lists import read_user_id_list

ERRORS_SHOWN = 20


@click.group()
def users() -> None:
    """The bot's audience: the recipients announcements go to.

    \b
    Example:
      blazecast users import users.csv
      blazecast users list --tag beta
    """


@users.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--max-errors",
    type=click.IntRange(0),
    default=recipients.DEFAULT_MAX_ERRORS,
    show_default=True,
    help="Give up (importing nothing) when more rows than this are bad.",
)
@click.option("--strict", is_flag=True, help="Give up (importing nothing) at the first bad row.")
@click.option(
    "--errors-out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write every rejected row to this CSV (line, reason).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the outcome as JSON.")
@context.bot_option
def import_(
    file: Path,
    max_errors: int,
    strict: bool,
    errors_out: Path | None,
    as_json: bool,
    bot_name: str | None,
) -> None:
    """Import users from a CSV or JSON-lines FILE: user_id, optional tags and time_zone.

    user_id is the bot's provider's id: a UUID for a Mixin bot, a positive integer (at most
    2^53 - 1) for an IM REST bot.

    Rows that cannot be used are listed with their line number and reason, and the others are
    imported. If more than --max-errors rows are bad (or any with --strict), or anything else
    fails, nothing at all is imported. Importing again is safe: known users keep their
    subscription status, and the tags and time zone given replace the stored ones.

    \b
    Example (CSV with a header; tags separated by ';'):
      user_id,tags,time_zone
      7b3f0c8e-2f41-4a8e-9a55-0d7c6f1f4b11,vip;beta,Europe/Paris
    \b
      blazecast users import users.csv
      blazecast users import users.jsonl --strict
    """
    source = open_recipient_file(file)
    out = render.console(stderr=True)
    progress = Progress(
        TextColumn("importing"),
        BarColumn(),
        DownloadColumn(),
        TextColumn("{task.fields[rows]} rows"),
        TimeRemainingColumn(),
        console=out,
        disable=as_json or not out.is_terminal,
    )
    with progress, context.database().session() as session:
        bot = context.bot(session, bot_name)
        task = progress.add_task("import", total=source.size, rows="0")

        def advance(report: recipients.ImportReport) -> None:
            progress.update(task, completed=source.bytes_read, rows=render.count(report.rows))

        report = recipients.import_recipients(
            session,
            source.rows(user_id_checker(bot.provider)),
            bot_id=bot.id,
            max_errors=max_errors,
            strict=strict,
            on_chunk=advance,
        )
    if errors_out is not None:
        _write_errors(errors_out, report.errors)
    if as_json:
        render.echo_json(
            {
                "rows": report.rows,
                "inserted": report.inserted,
                "updated": report.updated,
                "unchanged": report.unchanged,
                "duplicates": report.duplicates,
                "rejected": [{"line": e.line, "reason": e.reason} for e in report.errors],
                "ignored_columns": sorted(source.ignored_columns),
            }
        )
        return
    _print_report(report, source.ignored_columns, errors_out)


def _print_report(
    report: recipients.ImportReport, ignored: set[str], errors_out: Path | None
) -> None:
    out = render.console()
    out.print(
        f"imported {render.count(report.rows)} rows: {render.count(report.inserted)} new, "
        f"{render.count(report.updated)} updated, {render.count(report.unchanged)} unchanged"
        + (f", {render.count(report.duplicates)} repeated" if report.duplicates else "")
    )
    if ignored:
        out.print(f"ignored columns: {', '.join(sorted(ignored))}", style="yellow")
    if report.errors:
        err = render.console(stderr=True)
        err.print(f"{len(report.errors)} rows rejected:", style="bold red")
        for error in report.errors[:ERRORS_SHOWN]:
            err.print(f"  {error}")
        if len(report.errors) > ERRORS_SHOWN:
            hint = f"see {errors_out}" if errors_out else "use --errors-out FILE for all"
            err.print(f"  … and {len(report.errors) - ERRORS_SHOWN} more ({hint})")


def _write_errors(path: Path, errors: list[RowError]) -> None:
    import csv

    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["line", "reason"])
        writer.writerows([e.line, e.reason] for e in errors)


@users.command("list")
@click.option(
    "--status",
    type=click.Choice([s.value for s in RecipientStatus]),
    help="Only users with this status.",
)
@click.option("--tag", help="Only users with this tag.")
@click.option("--limit", type=click.IntRange(1), default=50, show_default=True)
@click.option("--after", type=click.IntRange(0), default=0, help="Continue after this row number.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON lines, one user per line.")
@click.option("--bot", "bot_name", metavar="NAME", help="Only this bot's recipients.")
def list_(
    status: str | None,
    tag: str | None,
    limit: int,
    after: int,
    as_json: bool,
    bot_name: str | None,
) -> None:
    """List recipients in import order, with counts by status.

    \b
    Example:
      blazecast users list --status unsubscribed --limit 20
    """
    with context.database().session() as session:
        bot_id = context.bot(session, bot_name).id if bot_name else None
        rows, total = recipients.list_recipients(
            session,
            bot_id=bot_id,
            status=RecipientStatus(status) if status else None,
            tag=tag,
            limit=limit,
            after_id=after,
        )
        counts = recipients.count_by_status(session, bot_id)
    if as_json:
        for r in rows:
            render.echo_json(_recipient_json(r), one_line=True)
        return
    out = render.console()
    out.print(render.recipients_table(rows))
    shown = f"showing {len(rows)} of {render.count(total)}"
    if rows and len(rows) < total:
        shown += f" (next page: --after {rows[-1].id})"
    out.print(shown + "   " + ", ".join(f"{s.value}: {render.count(n)}" for s, n in counts.items()))


@users.command()
@click.argument("user_id")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@context.bot_option
def show(user_id: str, as_json: bool, bot_name: str | None) -> None:
    """Show one recipient and the last announcements sent to them.

    \b
    Example:
      blazecast users show 7b3f0c8e-2f41-4a8e-9a55-0d7c6f1f4b11
    """
    with context.database().session() as session:
        bot = context.bot(session, bot_name)
        recipient = recipients.get_recipient(
            session, bot.id, user_id, user_id_checker(bot.provider)
        )
        history = session.execute(
            select(Announcement.id, Announcement.title, Delivery.state, Delivery.sent_at)
            .join(Announcement, Announcement.id == Delivery.announcement_id)
            .where(Delivery.recipient_id == recipient.id)
            .order_by(Delivery.id.desc())
            .limit(10)
        ).all()
    if as_json:
        data = _recipient_json(recipient)
        data["recent"] = [
            {"announcement": str(a), "title": t, "state": s.value, "sent_at": at}
            for a, t, s, at in history
        ]
        render.echo_json(data)
        return
    out = render.console()
    out.print(render.recipients_table([recipient]))
    if recipient.status_reason:
        out.print(f"reason: {recipient.status_reason}")
    if recipient.conversation_id:
        out.print(f"conversation: {recipient.conversation_id}")
    for announcement_id, title, state, sent_at in history:
        out.print(f"  {announcement_id}  {state.value:<9}  {render.when(sent_at)}  {title}")
    if not history:
        out.print("no announcement has been sent to this user yet")


@users.command()
@click.argument("user_ids", nargs=-1)
@click.option(
    "--file",
    "id_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Also read user ids from this file, one per line.",
)
@click.option("--reason", default="unsubscribed by operator", show_default=True)
@context.bot_option
def unsubscribe(
    user_ids: tuple[str, ...], id_file: Path | None, reason: str, bot_name: str | None
) -> None:
    """Stop sending announcements to these users (all of them, or none if one is unknown).

    They can come back by sending /start to the bot.

    \b
    Example:
      blazecast users unsubscribe 7b3f0c8e-2f41-4a8e-9a55-0d7c6f1f4b11
      blazecast users unsubscribe --file complaints.txt
    """
    if not user_ids and id_file is None:
        raise click.UsageError("give at least one USER_ID or --file")
    with context.database().session() as session:
        bot = context.bot(session, bot_name)
        check = user_id_checker(bot.provider)
        wanted = list(user_ids)
        if id_file is not None:
            wanted += read_user_id_list(id_file, check)
        changed = recipients.set_status(
            session, bot.id, wanted, RecipientStatus.UNSUBSCRIBED, reason, check
        )
    distinct = {check(w) for w in wanted}
    click.echo(f"unsubscribed {changed} user(s); {len(distinct) - changed} already were")


def _recipient_json(r: Recipient) -> dict[str, object]:
    return {
        "user_id": r.user_id,
        "status": r.status.value,
        "status_reason": r.status_reason,
        "tags": list(r.tags),
        "time_zone": r.time_zone,
        "conversation_id": str(r.conversation_id) if r.conversation_id else None,
        "created_at": r.created_at,
    }


COMMANDS = [users]
