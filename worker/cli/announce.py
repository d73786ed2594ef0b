"""``blazecast announce``: the group, and steering announcements (schedule, pause, resume,
cancel, recall). Creating them lives in ``announce_create``, reading them (list, show, status,
report) in ``announce_show``."""

from __future__ import annotations

import sys
from typing import Any

import click

from worker import progress
from worker.broadcast import service
from worker.cli import announce_create, announce_show, context, render
from worker.progress import AnnouncementInfo


@click.group()
def announce() -> None:
    """Announcements: create, schedule, watch, pause, resume, cancel, recall, report.

    \b
    Example:
      blazecast announce create --text "Maintenance tonight 22:00 UTC" --audience tags:beta
      blazecast announce status 3f2a --watch
    """


# --- steering -----------------------------------------------------------------------------


def _act(reference: str, action: Any, done: str | None) -> AnnouncementInfo:
    with context.database().session() as session:
        announcement_id = progress.resolve_id(session, reference)
        action(session, announcement_id)
        info = progress.get_info(session, announcement_id)
    if done is not None:
        click.echo(f"announcement {info.id} {done} (now {info.status.value})")
    return info


def _confirm(question: str) -> None:
    """Ask at a terminal; elsewhere (a script, a pipe) there is nobody to answer: say so."""
    if not sys.stdin.isatty():
        raise click.UsageError("not at a terminal to confirm: add --yes to do it without asking")
    click.confirm(question, abort=True)


@announce.command("schedule")
@click.argument("announcement_id")
@click.option("--at", help="When to send, e.g. '2026-05-01 09:00' (default: now).")
@click.option("--tz", "--time-zone", "time_zone", default="UTC", show_default=True)
def schedule_(announcement_id: str, at: str | None, time_zone: str) -> None:
    """Schedule a draft (or a scheduled one again, at another time).

    \b
    Example:
      blazecast announce schedule 3f2a --at "2026-05-01 09:00" --tz Europe/Paris
    """
    when = service.resolve_time(at, time_zone)
    info = _act(announcement_id, lambda s, a: service.schedule(s, a, when), None)
    click.echo(f"announcement {info.id} scheduled for {render.when(info.scheduled_at)}")
    context.warn_if_nothing_sends(past=when)


@announce.command()
@click.argument("announcement_id")
def pause(announcement_id: str) -> None:
    """Stop sending within about a second; `resume` continues without re-sending anyone.

    \b
    Example:
      blazecast announce pause 3f2a
    """
    _act(announcement_id, service.pause, "paused")


@announce.command()
@click.argument("announcement_id")
def resume(announcement_id: str) -> None:
    """Continue a paused announcement where it stopped (also after a 401 was fixed).

    \b
    Example:
      blazecast announce resume 3f2a
    """
    _act(announcement_id, service.resume, "resumed")


@announce.command()
@click.argument("announcement_id")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def cancel(announcement_id: str, yes: bool) -> None:
    """Stop for good: users not sent the message yet never will be.

    \b
    Example:
      blazecast announce cancel 3f2a --yes
    """
    if not yes:
        _confirm(f"cancel announcement {announcement_id} for good?")
    _act(announcement_id, service.cancel, "cancelled")


@announce.command()
@click.argument("announcement_id")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def recall(announcement_id: str, yes: bool) -> None:
    """Take an announcement back: a MESSAGE_RECALL to everyone it was sent to (and no one
    else gets it).

    \b
    Example:
      blazecast announce recall 3f2a --yes
    """
    if not yes:
        _confirm(f"recall announcement {announcement_id} from everyone?")
    with context.database().session() as session:
        original = progress.resolve_id(session, announcement_id)
        recalled = service.recall(session, original)
        sent = progress.get_info(session, original).sent
        recall_id = recalled.id
    click.echo(
        f"recall {recall_id} scheduled: MESSAGE_RECALL to the {render.count(sent)} users "
        f"sent announcement {original}"
    )


for _command in [announce_create.create, *announce_show.COMMANDS]:
    announce.add_command(_command)

COMMANDS = [announce]
