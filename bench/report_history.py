"""The README's subsection for ``bench.history`` (costs as delivery history grows, and migration
0008's time), written by ``bench.report`` from ``bench/results/history*.json``."""

from __future__ import annotations

from typing import Any

RATIO_GOAL = 1.2
PLANNING_GOAL_SECONDS = 12.0
# (key, label, unit, higher is better)
ROWS = (
    ("planning_seconds", "planning a new {audience:,}-recipient announcement", "s", False),
    ("wal_bytes_per_row", "WAL written by that planning, per planned row", "B", False),
    ("receipts_per_second", "receipts applied, 1 process", "/s", True),
    ("show_ms", "`announce show` (the new announcement)", "ms", False),
    ("curves_ms", "report curves (4 queries, the new announcement)", "ms", False),
    ("metrics_ms", "metrics scrape (its Postgres part)", "ms", False),
)


def _cost_ratio(first: float, last: float, higher_is_better: bool) -> float:
    """How many times costlier the last size is than the first (rates inverted)."""
    return first / last if higher_is_better else last / first


def history_section(r: dict[str, Any], migration: dict[str, Any], load_note: str) -> list[str]:
    f = r["figures"]
    points = f["points"]
    first, last = points[0], points[-1]
    sizes = [
        f"{p['history_rows'] / 1e6:,.0f}M rows" if p["history_rows"] else "0 rows" for p in points
    ]
    lines = [
        "### Delivery history at scale",
        "",
        f"`{r['command']}` ({load_note}, {r['measured_at']}): finished "
        f"{f['audience']:,}-recipient announcements bulk-loaded as history (each size in engines "
        "of its own), then at each size a new announcement to the same audience planned, 100,000 "
        "of its receipts applied, shown, its curves drawn, and the metrics scraped (each read the "
        "median of 9, of 45 for the scrape), and removed again. "
        + (
            f"{rounds} rounds, each taking every size in turn; a figure is the median of its "
            "rounds."
            if (rounds := len(first.get("rounds", []))) > 1
            else "A single run."
        ),
        "",
        "| figure | " + " | ".join(sizes) + " | last / first |",
        "| --- | " + " | ".join("---" for _ in points) + " | --- |",
    ]
    worst = 0.0
    for key, label, unit, better_high in ROWS:
        values = [p.get(key) for p in points]
        cells = [f"{v:,} {unit}" if v is not None else "–" for v in values]
        ratio = (
            _cost_ratio(first[key], last[key], better_high)
            if first.get(key) and last.get(key)
            else None
        )
        if ratio is not None:
            worst = max(worst, ratio)
        shown = f"{last[key] / first[key]:.2f}" if ratio is not None else "–"
        lines.append(
            f"| {label.format(audience=f['audience'])} | " + " | ".join(cells) + f" | {shown} |"
        )
    if last.get("bytes_per_delivery"):
        lines += [
            "",
            f"Storage: **{last['bytes_per_delivery']} bytes per delivery** (the new announcement's "
            "partition: rows at fillfactor 50, which keeps the sent/DELIVERED/READ updates HOT, and "
            "its four indexes; 100,000 of its rows updated once). Reasons are stored once "
            "(`delivery_reasons`): an announcement failed whole by an outage took 619 bytes per "
            "delivery with the text in every row (200,000 recipients) and takes 474 now (20,000; "
            "`python -m bench.delivery_storage`, [decision record]"
            "(docs/decisions/2026-12-02-delivery-reasons-stored-once.md)).",
        ]
    planning = first["planning_seconds"] * 1_000_000 / max(first["planned"], 1)
    lines += [
        "",
        f"Goal (every figure within {RATIO_GOAL}× of its value at the first size): "
        + ("**met**" if worst <= RATIO_GOAL else f"**not met** (worst {worst:.2f}×)")
        + f". Planning 1M at the first size ≤ {PLANNING_GOAL_SECONDS:.0f} s: "
        + ("**met**" if planning <= PLANNING_GOAL_SECONDS else f"**not met** ({planning:.1f} s)")
        + ". Why the costs no longer grow with history: "
        "[decision record](docs/decisions/2026-12-02-deliveries-partitioned-per-announcement.md).",
        "",
        "![figures against rows of history](bench/results/history.png)",
        "",
    ]
    if migration:
        m = migration["figures"]
        lines += [
            f"Migration 0008 (`{migration['command']}`, {migration['measured_at']}): "
            f"{m['rows_before']:,} deliveries moved into per-announcement partitions in "
            f"{m['seconds']} s, **{m['seconds_per_million']} s per million rows**; "
            f"{m['rows_after']:,} rows after.",
            "",
        ]
    return lines
