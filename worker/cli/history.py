"""``blazecast history archive``: move old announcements' per-recipient rows into files."""

from __future__ import annotations

from pathlib import Path

import click

from worker import history
from worker.cli import context, render


@click.group("history")
def history_group() -> None:
    """Delivery history: archive finished announcements' per-recipient rows to files.

    \b
    Example:
      blazecast history archive --older-than 90d --out /var/lib/blazecast/archive
    """


@history_group.command()
@click.option(
    "--older-than",
    "older_than",
    default="90d",
    show_default=True,
    help="Archive announcements that finished longer ago than this (90d, 12h, 2w).",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Folder for the <announcement id>.csv.gz files.",
)
def archive(older_than: str, out_dir: Path) -> None:
    """Write each old announcement's per-recipient report to OUT/<id>.csv.gz, read it back, then
    drop its rows. Safe to stop and rerun: nothing is dropped before its file is verified.

    \b
    Example:
      blazecast history archive --older-than 90d --out archive/
    """
    try:
        age = history.parse_age(older_than)
    except ValueError as error:
        raise click.BadParameter(
            str(error).removeprefix("--older-than: "), param_hint="--older-than"
        ) from None
    done = 0
    for archived in history.archive_due(context.database(), age, out_dir):
        click.echo(
            f"archived {archived.announcement_id}: {render.count(archived.rows)} recipients "
            f"-> {archived.path}"
        )
        done += 1
    click.echo(f"{done} announcement{'s' if done != 1 else ''} archived")


COMMANDS = [history_group]
