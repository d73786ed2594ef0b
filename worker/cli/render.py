"""Rich rendering shared by the operator commands: tables, progress bars, message previews.

Only presentation lives here; the numbers come from ``worker.progress`` and friends. Output that
is not a terminal (a pipe, a test) gets a wide console without colours, so that ids are never
cut; ``--json`` output bypasses Rich altogether. Consoles do not parse markup: everything printed
may hold user data.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import click
from rich.console import Console, Group, RenderableType
from rich.markdown import Markdown
from rich.panel import Panel
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from models import AnnouncementStatus, Recipient
from worker.progress import AnnouncementInfo, Failure

STATUS_STYLE = {
    AnnouncementStatus.DRAFT: "dim",
    AnnouncementStatus.SCHEDULED: "cyan",
    AnnouncementStatus.SENDING: "bold yellow",
    AnnouncementStatus.PAUSED: "magenta",
    AnnouncementStatus.COMPLETED: "green",
    AnnouncementStatus.CANCELLED: "dim red",
    AnnouncementStatus.FAILED: "bold red",
}


def console(*, stderr: bool = False) -> Console:
    stream = sys.stderr if stderr else sys.stdout
    interactive = stream.isatty()
    return Console(
        file=stream,
        # Titles, tags, reasons and file names are the users' and operators' text: "[/]" in a
        # title must print as it is, not be parsed as Rich markup (which raised MarkupError).
        # Style with ``style=`` or ``Text``, never with markup in the string.
        markup=False,
        highlight=False,
        width=None if interactive else 160,
        no_color=not interactive,
        force_terminal=interactive,
    )


def echo_json(data: Any, *, one_line: bool = False) -> None:
    """JSON on stdout; ``one_line`` for JSON-lines output (one document per line)."""
    indent = None if one_line else 2
    click.echo(json.dumps(data, indent=indent, default=str, ensure_ascii=False))


# --- small formats ------------------------------------------------------------------------


def count(n: int | float) -> str:
    return f"{n:,.0f}"


def counted(n: int, noun: str, plural: str | None = None) -> str:
    """``1 recipient``, ``2 recipients``: a count with its noun in the right number."""
    return f"{count(n)} {noun if n == 1 else plural or noun + 's'}"


def percent(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f} %" if whole else "-"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = max(seconds, 0.0)
    if seconds < 10:
        return f"{seconds:.1f} s"
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min {secs:02d} s"
    return f"{secs} s"


def when(moment: datetime | None) -> str:
    if moment is None:
        return "-"
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def status_text(info: AnnouncementInfo) -> Text:
    label = Text(info.status.value, style=STATUS_STYLE.get(info.status, ""))
    if info.is_test:
        label.append(" (test)", style="dim")
    return label


# --- announcements ----------------------------------------------------------------------


def announcements_table(infos: Sequence[AnnouncementInfo]) -> Table:
    table = Table(show_edge=False, pad_edge=False)
    table.add_column("id", no_wrap=True)
    table.add_column("bot", no_wrap=True)
    table.add_column("title", max_width=40, overflow="ellipsis", no_wrap=True)
    table.add_column("category")
    table.add_column("status")
    table.add_column("scheduled", no_wrap=True)
    # ``unknown`` (IM REST fates past the retry horizon) only when some announcement has any.
    unknown = any(info.unknown for info in infos)
    for name in ("total", "sent", "delivered", "read", "failed") + (
        ("unknown",) if unknown else ()
    ):
        table.add_column(name, justify="right")
    for info in infos:
        table.add_row(
            str(info.id),
            info.bot,
            info.title,
            info.category,
            status_text(info),
            when(info.scheduled_at),
            count(info.total),
            count(info.sent),
            # Counts of the polled sample, not of the audience: marked, the rates are in `show`.
            count(info.delivered) + ("*" if info.estimates else ""),
            count(info.read) + ("*" if info.estimates else ""),
            count(info.failed),
            *((count(info.unknown),) if unknown else ()),
        )
    if any(info.estimates for info in infos):
        table.caption = "* of the polled sample only: `announce show` gives the estimated rates"
    return table


def announcement_details(info: AnnouncementInfo) -> Table:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    status = status_text(info)
    if info.status_reason:
        status.append(f"  ({info.status_reason})", style="italic")
    rows: list[tuple[str, str | Text]] = [
        ("id", str(info.id)),
        ("bot", info.bot),
        ("title", info.title),
        ("category", info.category),
        ("status", status),
        ("audience", info.audience),
        ("priority", str(info.priority)),
        ("rate cap", f"{count(info.rate_per_minute)}/min" if info.rate_per_minute else "none"),
        ("created", when(info.created_at)),
        ("scheduled", when(info.scheduled_at)),
        ("first sent", when(info.first_sent_at)),
        ("completed", when(info.completed_at)),
    ]
    for label, value in rows:
        grid.add_row(label, value)
    return grid


def counters_table(info: AnnouncementInfo) -> Table:
    table = Table(show_edge=False, pad_edge=False)
    sampled = info.estimates is not None
    names = (
        "total",
        "sent",
        "delivered (sample)" if sampled else "delivered",
        "read (sample)" if sampled else "read",
        "failed",
        "skipped",
        "unknown",
        "remaining",
    )
    for name in names:
        table.add_column(name, justify="right")
    table.add_row(
        *(
            count(v)
            for v in (
                info.total,
                info.sent,
                info.delivered,
                info.read,
                info.failed,
                info.skipped,
                info.unknown,
                info.remaining,
            )
        )
    )
    return table


def estimate_lines(info: AnnouncementInfo) -> list[str]:
    """The delivered and read rates of a sampled announcement, marked as estimates."""
    if info.estimates is None:
        return []
    return [
        "ESTIMATES (a uniform random sample was polled; the counters above count the sample):",
        "  " + info.estimates.describe("delivered"),
        "  " + info.estimates.describe("read"),
    ]


def failures_table(failures: Iterable[Failure]) -> Table:
    table = Table(
        show_edge=False, pad_edge=False, title="not sent, by reason", title_justify="left"
    )
    table.add_column("recipients", justify="right")
    table.add_column("outcome")
    table.add_column("reason", overflow="fold")
    for failure in failures:
        table.add_row(count(failure.count), failure.state.value, failure.reason)
    return table


def progress_line(info: AnnouncementInfo, rate: float | None) -> str:
    """One plain line of progress, for output that is not a terminal (a pipe, a log)."""
    return (
        f"{info.status.value}: {count(info.sent)}/{count(info.total)} sent, "
        f"{count(info.delivered)} delivered, {count(info.read)} read, "
        f"{count(info.failed)} failed, {count(info.skipped)} skipped"
        + (f", {count(info.unknown)} unknown" if info.unknown else "")
        + (f", {count(rate)} msg/s" if rate is not None else "")
        + "".join(f"; {line.strip()}" for line in estimate_lines(info)[1:])
    )


def progress_view(info: AnnouncementInfo, rate: float | None, eta: float | None) -> Group:
    """Bars for sent / delivered / read against the total, with rate and time left."""
    total = max(info.total, 1)
    grid = Table.grid(padding=(0, 1))
    grid.add_column(width=10)
    grid.add_column(width=42)
    grid.add_column(justify="right", min_width=22)
    bars: tuple[tuple[str, int, str], ...] = (
        ("sent", info.sent, "yellow"),
        ("delivered", info.delivered, "cyan"),
        ("read", info.read, "green"),
        ("failed", info.failed, "red"),
        # Not sent on purpose: unsubscribed, unreachable before sending, or cancelled.
        ("skipped", info.skipped, "magenta"),
    )
    if info.unknown:
        # Maybe sent, maybe not: past the provider's retry horizon (IM REST).
        bars += (("unknown", info.unknown, "white"),)
    for label, value, colour in bars:
        bar = ProgressBar(total=total, completed=value, width=40, complete_style=colour)
        grid.add_row(
            label, bar, f"{count(value)} / {count(info.total)}  {percent(value, info.total)}"
        )
    line = Text.assemble(
        (f"{info.title[:50]}  ", "bold"),
        (f"({info.bot})  ", "dim"),
        status_text(info),
        f"   rate {count(rate)} msg/s" if rate is not None else "   rate -",
        f"   ETA {duration(eta)}" if eta is not None else "",
    )
    if not info.planned and info.status is AnnouncementStatus.SENDING:
        line.append("   (still planning the audience)", style="italic")
    estimates = estimate_lines(info)
    if estimates:
        return Group(line, grid, Text("\n".join(estimates), style="italic"))
    return Group(line, grid)


# --- recipients ---------------------------------------------------------------------------


def recipients_table(rows: Sequence[Recipient]) -> Table:
    table = Table(show_edge=False, pad_edge=False)
    table.add_column("user_id", no_wrap=True)
    table.add_column("status")
    table.add_column("tags")
    table.add_column("time zone")
    table.add_column("since", no_wrap=True)
    for r in rows:
        table.add_row(
            r.user_id,
            r.status.value,
            ", ".join(r.tags),
            r.time_zone or "-",
            when(r.created_at),
        )
    return table


# --- message previews ---------------------------------------------------------------------


def message_preview(category: str, content: Any) -> RenderableType:
    """How the message will look, roughly: text, Markdown, a card, buttons, or the JSON."""
    body: RenderableType
    if category == "PLAIN_TEXT":
        body = Text(str(content))
    elif category == "PLAIN_POST":
        body = Markdown(str(content))
    else:
        value = json.loads(content) if isinstance(content, str) else content
        body = _structured_preview(category, value)
    return Panel(body, title=Text(category), title_align="left", expand=False, width=72)


def _structured_preview(category: str, value: Any) -> RenderableType:
    if category == "APP_CARD" and isinstance(value, dict):
        parts: list[RenderableType] = [
            Text(str(value.get("title", "")), style="bold"),
            Text(str(value.get("description", ""))),
        ]
        if value.get("actions"):
            parts.append(_buttons(value["actions"]))
        return Group(*parts)
    if category == "APP_BUTTON_GROUP" and isinstance(value, list):
        return _buttons(value)
    return Text(json.dumps(value, indent=2, ensure_ascii=False))


def _buttons(buttons: list[Any]) -> Text:
    line = Text()
    for button in buttons:
        if isinstance(button, dict):
            line.append(f" {button.get('label', '?')} ", style="reverse")
            line.append("  ")
    return line
