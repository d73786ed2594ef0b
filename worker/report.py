"""The after-action report of an announcement: a CSV of every recipient's outcome and a PNG of
the sent / delivered / read / failed curves over time, the total, and the moments it was paused,
resumed and cancelled.

The CSV is streamed from the database in pages (an announcement may have millions of
recipients). The curves are counted in SQL, one row per time bin, and drawn with matplotlib's
Agg backend through the object API, so no display and no global pyplot state is involved.
"""

from __future__ import annotations

import csv
import uuid
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from sqlalchemy import Float, cast, extract, func, select
from sqlalchemy.orm import Session

from models import (
    Announcement,
    AnnouncementEvent,
    AnnouncementStatus,
    Delivery,
    DeliveryReason,
    Recipient,
)
from worker.broadcast.state import AnnouncementNotFound
from worker.progress import AnnouncementInfo, get_info

CSV_COLUMNS = (
    "user_id",
    "message_id",
    "state",
    "attempts",
    "sent_at",
    "delivered_at",
    "read_at",
    "failed_at",
    "reason",
)
STREAM_ROWS = 5_000
MAX_BINS = 400  # enough points for a smooth curve on a 1,200 px wide plot
CURVES = ("sent", "delivered", "read", "failed")
MARKS = {AnnouncementStatus.PAUSED: "paused", AnnouncementStatus.CANCELLED: "cancelled"}


@dataclass(frozen=True)
class ReportFiles:
    csv_path: Path
    png_path: Path
    rows: int
    # The final counters (unknown fates included) and, for a sampled announcement, its
    # delivered and read rates as estimates with their 95 % interval: printed and drawn.
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Curves:
    """Cumulative counts per bin: ``seconds[i]`` after ``start``, ``counts[name][i]`` messages."""

    start: datetime | None
    seconds: list[float]
    counts: dict[str, list[int]]
    total: int = 0  # messages planned: the line every curve heads for
    # Pauses, resumes and the cancel, as (seconds after ``start``, "paused" | "resumed" | ...).
    marks: tuple[tuple[float, str], ...] = ()


class AnnouncementArchived(Exception):
    """The announcement's per-recipient rows were archived (``blazecast history archive``)."""

    def __init__(self, announcement_id: uuid.UUID, path: str) -> None:
        super().__init__(
            f"announcement {announcement_id} was archived: its per-recipient report is {path} "
            "(`announce show` still has its counters)"
        )
        self.path = path


class TextSink(Protocol):
    def write(self, text: str, /) -> object: ...


def write_report(session: Session, announcement_id: uuid.UUID, out_dir: Path) -> ReportFiles:
    """Write ``<id>.csv`` and ``<id>.png`` under ``out_dir`` (created if needed)."""
    announcement = session.get(Announcement, announcement_id)
    if announcement is None:
        raise AnnouncementNotFound(announcement_id)
    if announcement.archive_path is not None:
        raise AnnouncementArchived(announcement_id, announcement.archive_path)
    out_dir.mkdir(parents=True, exist_ok=True)
    csv_path = out_dir / f"{announcement_id}.csv"
    png_path = out_dir / f"{announcement_id}.png"
    rows = write_outcomes_csv(session, announcement_id, csv_path)
    notes = summary_notes(get_info(session, announcement_id))
    draw_curves(outcome_curves(session, announcement_id), announcement.title, png_path, notes)
    return ReportFiles(csv_path, png_path, rows, notes)


def summary_notes(info: AnnouncementInfo) -> tuple[str, ...]:
    """The counters in one line, then the estimates of a sampled announcement, if any."""
    counters = (
        f"sent {info.sent:,}, delivered {info.delivered:,}, read {info.read:,}, failed "
        f"{info.failed:,}, skipped {info.skipped:,}, unknown {info.unknown:,} of {info.total:,}"
    )
    if info.estimates is None:
        return (counters,)
    return (
        counters.replace("delivered", "delivered (sample)", 1).replace("read", "read (sample)", 1),
        "ESTIMATE " + info.estimates.describe("delivered"),
        "ESTIMATE " + info.estimates.describe("read"),
    )


def write_outcomes_csv(session: Session, announcement_id: uuid.UUID, path: Path) -> int:
    """One line per recipient, in planning order; returns how many."""
    with open(path, "w", newline="", encoding="utf-8") as handle:
        return write_outcomes(session, announcement_id, handle)


def write_outcomes(session: Session, announcement_id: uuid.UUID, handle: TextSink) -> int:
    """The report's CSV (header, then one line per recipient in planning order) to ``handle``;
    ``history archive`` writes the very same lines. Returns how many recipients."""
    d = Delivery
    query = (
        select(
            Recipient.user_id,
            d.message_id,
            d.state,
            d.attempts,
            d.sent_at,
            d.delivered_at,
            d.read_at,
            d.failed_at,
            DeliveryReason.text,
            d.reason_detail,
        )
        .join(Recipient, Recipient.id == d.recipient_id)
        .outerjoin(DeliveryReason, DeliveryReason.id == d.reason_id)
        .where(d.announcement_id == announcement_id)
        .order_by(d.id)
        .execution_options(yield_per=STREAM_ROWS)
    )
    written = 0
    writer = csv.writer(handle)
    writer.writerow(CSV_COLUMNS)
    for row in session.execute(query):
        user_id, message_id, state, attempts, sent, delivered, read, failed, reason, detail = row
        writer.writerow(
            [
                user_id,
                message_id,
                state.value,
                attempts,
                _iso(sent),
                _iso(delivered),
                _iso(read),
                _iso(failed),
                (reason or "") + (detail or ""),  # as recorded (``reasons.split``)
            ]
        )
        written += 1
    return written


def outcome_curves(session: Session, announcement_id: uuid.UUID) -> Curves:
    """Cumulative sent / delivered / read counts over time, in at most ``MAX_BINS`` bins."""
    d = Delivery
    mine = d.announcement_id == announcement_id
    start, end, total = session.execute(
        select(
            func.least(func.min(d.sent_at), func.min(d.failed_at)),
            func.greatest(
                func.max(d.sent_at),
                func.max(d.delivered_at),
                func.max(d.read_at),
                func.max(d.failed_at),
            ),
            func.count(),
        ).where(mine)
    ).one()
    if start is None:
        return Curves(None, [], {name: [] for name in CURVES}, total)
    span = max((end - start).total_seconds(), 1.0)
    width = max(span / MAX_BINS, 0.1)
    bins = int(span // width) + 1
    counts = {name: [0] * bins for name in CURVES}
    columns = {
        "sent": d.sent_at,
        "delivered": d.delivered_at,
        "read": d.read_at,
        "failed": d.failed_at,
    }
    for name, column in columns.items():
        offset = cast(extract("epoch", column - start), Float) / width
        bucket = func.least(func.greatest(func.floor(offset), 0), bins - 1)
        per_bin = session.execute(
            select(bucket, func.count()).where(mine, column.is_not(None)).group_by(bucket)
        )
        for index, n in per_bin:
            counts[name][int(index)] += int(n)
    for series in counts.values():
        for i in range(1, bins):
            series[i] += series[i - 1]
    # Each point is the total at the end of its bin; the curves start from zero at the origin.
    seconds = [0.0] + [(i + 1) * width for i in range(bins)]
    curves = {name: [0, *series] for name, series in counts.items()}
    return Curves(start, seconds, curves, total, status_marks(session, announcement_id, start))


def status_marks(
    session: Session, announcement_id: uuid.UUID, start: datetime
) -> tuple[tuple[float, str], ...]:
    """When the announcement was paused, resumed (sending again after a pause) and cancelled,
    in seconds after ``start``."""
    events = session.execute(
        select(AnnouncementEvent.at, AnnouncementEvent.status)
        .where(AnnouncementEvent.announcement_id == announcement_id)
        .order_by(AnnouncementEvent.at, AnnouncementEvent.id)
    ).all()
    marks: list[tuple[float, str]] = []
    previous: AnnouncementStatus | None = None
    for at, status in events:
        name = MARKS.get(status)
        if status is AnnouncementStatus.SENDING:
            name = "resumed" if previous is AnnouncementStatus.PAUSED else None
        if name is not None:
            marks.append((max((at - start).total_seconds(), 0.0), name))
        previous = status
    return tuple(marks)


def draw_curves(curves: Curves, title: str, path: Path, notes: Sequence[str] = ()) -> None:
    figure = Figure(figsize=(10, 5), dpi=120)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    colours = {"sent": "#d9a400", "delivered": "#1f8fd6", "read": "#2ca02c", "failed": "#d62728"}
    if curves.total:
        axes.axhline(curves.total, color="#555555", linestyle="--", linewidth=1, label="total")
    for name in CURVES:
        axes.plot(curves.seconds, curves.counts[name], label=name, color=colours[name])
    styles = {"paused": ":", "resumed": "-.", "cancelled": "-"}
    for seconds, name in curves.marks:
        axes.axvline(seconds, color="#7f3fbf", linestyle=styles[name], linewidth=1)
        axes.annotate(
            name,
            (seconds, 1),
            xycoords=("data", "axes fraction"),
            xytext=(3, -12),
            textcoords="offset points",
            color="#7f3fbf",
            fontsize=8,
        )
    axes.set_xlabel("seconds since the first message was sent")
    axes.set_ylabel("messages")
    started = f" (from {curves.start:%Y-%m-%d %H:%M:%S %Z})" if curves.start else " (nothing sent)"
    # The title is the operator's text: "$" must not switch on math text (a title holding
    # "$x^$" made savefig raise), and a control character is no glyph.
    shown = "".join(c if c.isprintable() else "\ufffd" for c in title[:60])
    axes.set_title(f"{shown}{started}", parse_math=False)
    axes.grid(True, alpha=0.3)
    axes.legend(loc="lower right")
    with warnings.catch_warnings():
        # A title in a script the font lacks is drawn with boxes; that is no reason to warn.
        warnings.filterwarnings("ignore", message="Glyph .* missing from font")
        if notes:
            # Below the axes, one line each: the counters, then the estimates (marked so).
            figure.text(0.01, 0.01, "\n".join(notes), fontsize=8, va="bottom", family="monospace")
            figure.tight_layout(rect=(0, 0.035 * len(notes) + 0.01, 1, 1))
        else:
            figure.tight_layout()
        figure.savefig(path, format="png")


def _iso(moment: datetime | None) -> str:
    return moment.isoformat() if moment is not None else ""
