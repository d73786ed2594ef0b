"""``blazecast announce list|show|status|report``: reading announcements, live or after the fact."""

from __future__ import annotations

import time
import uuid
from collections import deque
from contextlib import nullcontext
from datetime import UTC, datetime
from pathlib import Path

import click
from rich.live import Live

from models import AnnouncementStatus
from worker import progress
from worker.cli import context, render
from worker.db import Database
from worker.progress import AnnouncementInfo

RATE_WINDOW_SECONDS = 10.0


@click.command("list")
@click.option(
    "--status", type=click.Choice([s.value for s in AnnouncementStatus]), help="Only this status."
)
@click.option("--limit", type=click.IntRange(1), default=20, show_default=True)
@click.option("--tests", "include_tests", is_flag=True, help="Also list --test-to sends.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_(status: str | None, limit: int, include_tests: bool, as_json: bool) -> None:
    """List announcements, newest first.

    \b
    Example:
      blazecast announce list --status sending
    """
    with context.database().session() as session:
        infos = progress.list_infos(
            session,
            status=AnnouncementStatus(status) if status else None,
            include_tests=include_tests,
            limit=limit,
        )
    if as_json:
        render.echo_json([info.to_json() for info in infos])
        return
    out = render.console()
    if not infos:
        out.print("no announcements yet; create one with `blazecast announce create --text …`")
        return
    out.print(render.announcements_table(infos))


@click.command()
@click.argument("announcement_id")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def show(announcement_id: str, as_json: bool) -> None:
    """Show one announcement: details, counters, failures by reason, and the message.

    ANNOUNCEMENT_ID may be shortened to a unique prefix (at least 4 characters).

    \b
    Example:
      blazecast announce show 3f2a
    """
    with context.database().session() as session:
        announcement_id_ = progress.resolve_id(session, announcement_id)
        info = progress.get_info(session, announcement_id_)
        failures = progress.failures_by_reason(session, announcement_id_)
        batches = progress.batch_states(session, announcement_id_)
        content = progress.content_of(session, announcement_id_)
        archive_path = progress.archive_path(session, announcement_id_)
    if as_json:
        data = info.to_json()
        data["failures"] = [
            {"state": f.state.value, "reason": f.reason, "count": f.count} for f in failures
        ]
        data["batches"] = {state.value: n for state, n in batches.items()}
        data["content"] = content
        data["archive_path"] = archive_path
        render.echo_json(data)
        return
    out = render.console()
    out.print(render.announcement_details(info))
    out.print(render.counters_table(info))
    for line in render.estimate_lines(info):
        out.print(line)
    if batches:
        out.print(
            "batches: " + ", ".join(f"{s.value} {render.count(n)}" for s, n in batches.items())
        )
    if archive_path is not None:
        out.print(f"archived: every recipient's outcome and failure reason is in {archive_path}")
    elif failures:
        out.print(render.failures_table(failures))
    else:
        out.print("no failures")
    out.print(render.message_preview(info.category, content))


class RateMeter:
    """Messages per second over the last few seconds, from successive snapshots."""

    def __init__(self, window: float = RATE_WINDOW_SECONDS) -> None:
        self.window = window
        self.samples: deque[tuple[float, int]] = deque()

    def add(self, at: float, finished: int) -> float | None:
        self.samples.append((at, finished))
        while len(self.samples) > 2 and at - self.samples[0][0] > self.window:
            self.samples.popleft()
        first_at, first = self.samples[0]
        if at - first_at < 0.5:
            return None
        return (finished - first) / (at - first_at)


def overall_rate(info: AnnouncementInfo) -> float | None:
    """Average sending rate since the first message went out."""
    if info.first_sent_at is None:
        return None
    end = info.completed_at or datetime.now(UTC)
    elapsed = (end - info.first_sent_at).total_seconds()
    return info.finished / elapsed if elapsed > 0 else None


def eta(info: AnnouncementInfo, rate: float | None) -> float | None:
    if info.is_over or not info.planned or not rate:
        return None
    return info.remaining / rate


@click.command()
@click.argument("announcement_id")
@click.option("--watch", "-w", is_flag=True, help="Follow live until it is over (Ctrl-C stops).")
@click.option("--interval", type=click.FloatRange(0.1), default=1.0, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON (with --watch: one line each).")
def status(announcement_id: str, watch: bool, interval: float, as_json: bool) -> None:
    """Progress of one announcement: sent / delivered / read, rate and time left.

    \b
    Example:
      blazecast announce status 3f2a --watch
    """
    db = context.database()
    with db.session() as session:
        key = progress.resolve_id(session, announcement_id)
        info = progress.get_info(session, key)
    if info.status in (AnnouncementStatus.SCHEDULED, AnnouncementStatus.SENDING):
        context.warn_if_nothing_sends()
    if not watch:
        rate = overall_rate(info) if info.status is AnnouncementStatus.SENDING else None
        if as_json:
            render.echo_json({**info.to_json(), "rate": rate, "eta_seconds": eta(info, rate)})
        else:
            render.console().print(render.progress_view(info, rate, eta(info, rate)))
        return
    try:
        final = _watch(db, key, interval, as_json)
    except KeyboardInterrupt:
        if not as_json:
            render.console().print("stopped watching; the announcement goes on")
        return
    if not as_json:
        average = overall_rate(final)
        out = render.console()
        out.print(
            f"{final.status.value}: {render.count(final.sent)} sent, "
            f"{render.count(final.delivered)} delivered, {render.count(final.read)} read, "
            f"{render.count(final.failed)} failed, {render.count(final.skipped)} skipped, "
            f"{render.count(final.unknown)} unknown"
            + (f" (average {render.count(average)} msg/s)" if average else "")
        )
        for line in render.estimate_lines(final):
            out.print(line)


def _watch(db: Database, key: uuid.UUID, interval: float, as_json: bool) -> AnnouncementInfo:
    """Poll until the announcement is over; return its last snapshot. At a terminal the view is
    redrawn in place; elsewhere (a pipe, a log) each change is one more line."""
    meter = RateMeter()
    out = render.console()
    redraw = not as_json and out.is_terminal
    last_line = None
    with Live(console=out, auto_refresh=False) if redraw else nullcontext() as live:
        while True:
            with db.session() as session:
                info = progress.get_info(session, key)
            rate = meter.add(time.monotonic(), info.finished)
            if as_json:
                render.echo_json({**info.to_json(), "rate": rate}, one_line=True)
            elif live is not None:
                live.update(render.progress_view(info, rate, eta(info, rate)), refresh=True)
            elif (line := render.progress_line(info, None)) != last_line:
                click.echo(line)
                last_line = line
            if info.is_over:
                return info
            time.sleep(interval)


@click.command()
@click.argument("announcement_id")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    show_default=True,
    help="Folder for the CSV and the PNG.",
)
def report(announcement_id: str, out_dir: Path) -> None:
    """Write a CSV of every recipient's outcome and a PNG of the sent / delivered / read curves.

    \b
    Example:
      blazecast announce report 3f2a --out reports/
    """
    from worker.report import AnnouncementArchived, write_report

    with context.database().session() as session:
        key = progress.resolve_id(session, announcement_id)
        try:
            files = write_report(session, key, out_dir)
        except AnnouncementArchived as archived:
            info = progress.get_info(session, key)
            click.echo(str(archived))
            click.echo(render.progress_line(info, None))
            return
    click.echo(
        f"wrote {files.csv_path} ({render.count(files.rows)} recipients) and {files.png_path}"
    )
    for note in files.notes:
        click.echo(note)


COMMANDS = [list_, show, status, report]
