"""Delivery history at scale: what planning, receipts, show, report and metrics cost as history grows.

Each size of history gets engines of its own, bulk-loaded in SQL one finished 1,000,000-recipient
announcement at a time, the way the real tables hold it (one partition per announcement, its
indexes, its batches, timestamps and a few failures). Then, in rounds that take every size in turn
(side by side, so that the machine's drift falls on all sizes alike), the figures of issue 15 are
measured on a new announcement to the same audience, in this process through the functions the
workers and the CLI call:

- planning it (``pipeline.plan``, pages of 20,000, after a ``CHECKPOINT``), and the WAL it wrote;
- receipts: 100,000 DELIVERED receipts of it, in buffers of 5,000 (``apply_receipts``), 1 process;
- ``announce show`` of it (info, failures by reason, batch states, content);
- the report's curves of it (``outcome_curves``), once 100,000 of its rows are sent;
- the Postgres half of a metrics scrape (``BlazecastCollector._from_postgres``).

The new announcement is then removed, so that each size keeps its history across rounds; a figure
is the median of its rounds. Figures go to ``bench/results/history.json`` and ``history.png``;
``python -m bench.report`` puts them in the README.

    .venv/bin/python -m bench.history                       # 0, 10M and 30M rows, 3 rounds
    .venv/bin/python -m bench.history --sizes 0,3M --audience 200000
    .venv/bin/python -m bench.history --migration 3M      # migrations 0008, 0009: time per 1M rows
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import statistics
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import psycopg2
from sqlalchemy import func, select, text

from bench.harness.bots import bench_settings, create_announcement, default_bot
from bench.harness.engines import BenchEngines
from bench.harness.results import RESULTS, Run
from models import Announcement
from worker import migrate, progress
from worker.broadcast import dispatcher, partitions, pipeline
from worker.broadcast.dispatcher import Pace
from worker.broadcast.receipts import apply_receipts
from worker.db import Database, make_redis
from worker.metrics import BlazecastCollector
from worker.report import outcome_curves

RECEIPTS = 100_000
RECEIPT_BUFFER = 5_000
REPEATS = 9
FIGURES = (
    ("planning_seconds", "planning a {audience} announcement", "s"),
    ("wal_bytes_per_row", "WAL written by that planning, per row", "B"),
    ("receipts_per_second", "receipts applied, 1 process", "/s"),
    ("show_ms", "`announce show` (new announcement)", "ms"),
    ("curves_ms", "report curves (4 queries, new announcement)", "ms"),
    ("metrics_ms", "metrics scrape (Postgres part)", "ms"),
)


def parse_size(value: str) -> int:
    value = value.strip().upper()
    scale = {"K": 1_000, "M": 1_000_000}.get(value[-1:], 1)
    return int(float(value.rstrip("KM") or 0) * scale)


# The reason of a failed delivery of the history: its own, naming the user (as a refusal of one
# recipient does); its shared part stored once, the user's details in the delivery's row.
_HISTORY_REASONS = (
    "INSERT INTO delivery_reasons (text) VALUES ('Forbidden: 403') ON CONFLICT (text) DO NOTHING"
)
_HISTORY_REASON = (
    "CASE WHEN r.id % 100 = 0 THEN "
    "     (SELECT id FROM delivery_reasons WHERE text = 'Forbidden: 403') END, "
    "CASE WHEN r.id % 100 = 0 THEN ' (details: user ' || r.user_id || ')' END, "
)
# The same at revision 0007 (``measure_migration``), when each row held its reason's whole text.
_HISTORY_REASON_0007 = (
    "CASE WHEN r.id % 100 = 0 THEN 'Forbidden: 403 (details: user ' || r.user_id || ')' END, "
)

# One finished delivery per recipient, in planning order; the same message ids as the planner's
# (md5 of the two UUIDs); 1 % failed with a reason, 60 % READ, 30 % DELIVERED, the rest sent.
_HISTORY_ROWS_TEMPLATE = (
    "(id, announcement_id, recipient_id, message_id, batch_id, "
    "state, attempts, {reason_columns}, sent_at, delivered_at, read_at, failed_at) "
    "SELECT nextval('deliveries_id_seq'), :a, r.id, "
    "md5(:a_text || r.user_id)::uuid, :base + (r.id - 1) / 100, "
    "CASE WHEN r.id % 100 = 0 THEN 'failed' WHEN r.id % 10 < 6 THEN 'read' "
    "     WHEN r.id % 10 < 9 THEN 'delivered' ELSE 'sent' END::delivery_state, 1, "
    "{reason_values}"
    "CASE WHEN r.id % 100 <> 0 THEN a.t + r.id * interval '3 ms' END, "
    "CASE WHEN r.id % 100 <> 0 AND r.id % 10 < 9 THEN a.t + r.id * interval '4 ms' END, "
    "CASE WHEN r.id % 100 <> 0 AND r.id % 10 < 6 THEN a.t + r.id * interval '9 ms' END, "
    "CASE WHEN r.id % 100 = 0 THEN a.t + r.id * interval '3 ms' END "
    "FROM recipients r, (SELECT started_at AS t FROM announcements WHERE id = :a) a "
    "WHERE r.bot_id = :bot ORDER BY r.id"
)
_HISTORY_ROWS = _HISTORY_ROWS_TEMPLATE.format(
    reason_columns="reason_id, reason_detail", reason_values=_HISTORY_REASON
)
_HISTORY_ROWS_0007 = _HISTORY_ROWS_TEMPLATE.format(
    reason_columns="last_error", reason_values=_HISTORY_REASON_0007
)


def load_recipients(db: Database, bot_id: int, count: int) -> None:
    with db.session() as session:
        session.execute(
            text(
                "INSERT INTO recipients (bot_id, user_id) "
                "SELECT :bot, gen_random_uuid()::text FROM generate_series(1, :n)"
            ),
            {"bot": bot_id, "n": count},
        )
    # An audience imported long before: without this, the first planning that reads it also sets
    # its hint bits, which with data checksums (initdb's default since Postgres 18) writes a
    # full-page image of every recipients page into that planning's WAL.
    with db.engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").execute(
            text("VACUUM (ANALYZE) recipients")
        )


def load_finished_announcement(db: Database, bot_id: int, audience: int, days_ago: int) -> None:
    """One finished announcement to every recipient: rows, indexes after the rows, batches."""
    announcement_id = uuid.uuid4()
    ddl = partitions.partition_ddl(announcement_id)
    table = partitions.partition_name(announcement_id)
    with db.session() as session:
        session.execute(
            text(
                "INSERT INTO announcements (id, bot_id, category, content, audience_kind, status, "
                "planned, total, sent, delivered, read, failed, started_at, first_sent_at, "
                "completed_at) VALUES (:id, :bot, 'PLAIN_TEXT', '\"history\"', 'all', 'completed', "
                "true, :n, :sent, :delivered, :read, :failed, :at, :at, :at + interval '1 hour')"
            ),
            {
                "id": announcement_id,
                "bot": bot_id,
                "n": audience,
                "sent": audience - audience // 100,
                "delivered": audience * 9 // 10,
                "read": audience * 6 // 10,
                "failed": audience // 100,
                "at": datetime.now(UTC).replace(microsecond=0) - (days_ago * _DAY),
            },
        )
        first_batch = session.execute(
            text(
                "INSERT INTO batches (announcement_id, seq, size, state, attempts, finished_at) "
                "SELECT :a, s, 100, 'done', 1, a.completed_at FROM generate_series(0, :last) s, "
                "(SELECT completed_at FROM announcements WHERE id = :a) a RETURNING id"
            ),
            {"a": announcement_id, "last": (audience - 1) // 100},
        ).scalars()
        batch_base = min(first_batch)
        session.execute(text(ddl[0]))
        session.execute(text(_HISTORY_REASONS))
        into = f"INSERT INTO {table} "  # a name made of a parsed UUID
        session.execute(
            text(into + _HISTORY_ROWS),
            {
                "a": announcement_id,
                "a_text": str(announcement_id),
                "base": batch_base,
                "bot": bot_id,
            },
        )
        for statement in ddl[1:]:
            session.execute(text(statement))
    # What autovacuum does within minutes of such a load, done now so that it does not run (and
    # write WAL) during the measurements: statistics (without them the planner takes a new
    # partition for empty, and the batches for all open) and the visibility map.
    with db.engine.connect() as conn:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        conn.execute(text(f"VACUUM (ANALYZE) {table}"))
        conn.execute(text("VACUUM (ANALYZE) batches"))


_DAY = datetime(2000, 1, 2) - datetime(2000, 1, 1)


def median_ms(action: Callable[[], object], repeats: int = REPEATS) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        action()
        times.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(times), 1)


def wal_lsn(db: Database) -> int:
    with db.session() as session:
        return int(
            session.execute(
                text("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')")
            ).scalar_one()
        )


def measure(db: Database, engines: BenchEngines, bot_id: int, audience: int) -> dict[str, Any]:
    settings = bench_settings(engines.database_url, engines.redis_url)
    announcement_id = create_announcement(db, settings, bot_id, "History bench")
    with db.session() as session:
        dispatcher.start_due(session)
    with db.engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("CHECKPOINT"))
    config = pipeline.PipelineConfig(
        pace=Pace(high_water=1000, default_quota=100_000_000), plan_ahead=0, plan_page_size=20_000
    )
    wal_before, started = wal_lsn(db), time.perf_counter()
    planned = pipeline.plan(
        db, pipeline.InlineBroker(), config, announcement_id, "bench", start_sending=False
    )
    planning = time.perf_counter() - started
    wal = wal_lsn(db) - wal_before

    with db.session() as session:
        ids = [
            str(m)
            for m in session.execute(
                text("SELECT message_id FROM deliveries WHERE announcement_id = :a LIMIT :n"),
                {"a": announcement_id, "n": RECEIPTS},
            ).scalars()
        ]
    random.Random(7).shuffle(ids)
    at = datetime.now(UTC)
    with db.session() as session:
        # What the send path does to these rows and their batches, so that the curves and the
        # metrics' receipt lag (over the latest done batches) have this announcement to read, at
        # every size alike.
        session.execute(
            text(
                "UPDATE deliveries SET sent_at = now() - interval '1 minute', state = 'sent', "
                "attempts = 1 WHERE announcement_id = :a AND message_id = ANY(CAST(:ids AS uuid[]))"
            ),
            {"a": announcement_id, "ids": ids},
        )
        session.execute(
            text(
                "UPDATE batches SET state = 'done', finished_at = now() WHERE id IN "
                "(SELECT DISTINCT batch_id FROM deliveries "
                " WHERE announcement_id = :a AND state = 'sent')"
            ),
            {"a": announcement_id},
        )
    started = time.perf_counter()
    for first in range(0, len(ids), RECEIPT_BUFFER):
        with db.session() as session:
            apply_receipts(
                session, [(m, "DELIVERED", at) for m in ids[first : first + RECEIPT_BUFFER]]
            )
    receipts = len(ids) / (time.perf_counter() - started)

    def show() -> None:
        with db.session() as session:
            progress.get_info(session, announcement_id)
            progress.failures_by_reason(session, announcement_id)
            progress.batch_states(session, announcement_id)
            progress.content_of(session, announcement_id)
            progress.archive_path(session, announcement_id)

    def curves() -> None:
        with db.session() as session:
            outcome_curves(session, announcement_id)

    with db.session() as session:
        # Table, TOAST and indexes of one announcement's partition, per delivery.
        stored = session.execute(
            text("SELECT pg_total_relation_size(to_regclass(:t))"),
            {"t": partitions.partition_name(announcement_id)},
        ).scalar_one()
    client = make_redis(engines.redis_url)
    collector = BlazecastCollector(db, client, lambda *_: None, 100)  # type: ignore[arg-type]
    figures = {
        "planned": planned,
        "planning_seconds": round(planning, 2),
        "wal_bytes": wal,
        "wal_bytes_per_row": round(wal / max(planned, 1), 1),
        "receipts_per_second": round(receipts),
        "show_ms": median_ms(show),
        "curves_ms": median_ms(curves),
        # A few milliseconds, as noisy as they are short: more repeats.
        "metrics_ms": median_ms(lambda: list(collector._from_postgres()), repeats=5 * REPEATS),
        "bytes_per_delivery": round(stored / max(planned, 1)),
    }
    client.close()
    forget(db, announcement_id)
    return figures


def forget(db: Database, announcement_id: uuid.UUID) -> None:
    """Remove a measured announcement, so that each size keeps exactly its history across rounds."""
    with db.session() as session:
        partitions.drop_partition(session, announcement_id)
        session.execute(text("DELETE FROM announcements WHERE id = :a"), {"a": announcement_id})
    with db.engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("VACUUM batches"))


def history_rows(db: Database) -> int:
    with db.session() as session:
        return int(
            session.execute(select(func.coalesce(func.sum(Announcement.total), 0))).scalar_one()
        )


def plot(points: list[dict[str, Any]], path_png: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 3, figsize=(12, 6.5))
    sizes = [p["history_rows"] / 1e6 for p in points]
    for axis, (key, label, unit) in zip(axes.flat, FIGURES, strict=True):
        values = [p[key] for p in points]
        axis.plot(sizes, values, marker="o")
        axis.set_title(label.format(audience="new"), fontsize=9)
        axis.set_xlabel("rows of history, millions")
        axis.set_ylabel(unit)
        axis.set_ylim(0, max(v or 0 for v in values) * 1.3 or 1)
    fig.tight_layout()
    fig.savefig(path_png, dpi=90)
    plt.close(fig)


def configure_postgres(engines: BenchEngines, settings: dict[str, str]) -> None:
    """Exactly ``settings`` on top of the engine's defaults (earlier runs' are reset)."""
    with contextlib.closing(psycopg2.connect(engines.database_url)) as conn:
        conn.autocommit = True
        with conn.cursor() as cursor:
            cursor.execute("ALTER SYSTEM RESET ALL")
            for name, value in settings.items():
                # A setting name is an identifier: it cannot be a bound parameter.
                if not name.replace("_", "").isalnum():
                    raise SystemExit(f"--pg: {name!r} is not a setting name")
                cursor.execute(f"ALTER SYSTEM SET {name} = %s", (value,))
    engines.restart_postgres()
    with (
        contextlib.closing(psycopg2.connect(engines.database_url)) as conn,
        conn.cursor() as cursor,
    ):
        for name in ("shared_buffers", "max_wal_size", "wal_compression", "checkpoint_timeout"):
            cursor.execute(f"SHOW {name}")
            print(f"{name} = {(cursor.fetchone() or ('?',))[0]}", flush=True)


def measure_migration(rows: int, audience: int) -> None:
    """Migrations 0008 and 0009 on a deployment with ``rows`` deliveries in the old, flat table:
    each one's seconds per million rows, and whether every row arrived."""
    run = Run("history_migration")
    run.command = run.command.replace("bench.history_migration", "bench.history")
    engines = BenchEngines.start("history_migration")
    try:
        with contextlib.closing(psycopg2.connect(engines.database_url)) as conn:
            conn.autocommit = True
            with conn.cursor() as cursor:
                cursor.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
        migrate.upgrade(engines.database_url, "0007")
        db = Database(engines.database_url)
        bot = default_bot(db, None)
        load_recipients(db, bot.id, audience)
        for _ in range(max(rows // audience, 1)):
            with db.session() as session:
                announcement_id = uuid.uuid4()
                session.execute(
                    text(
                        "INSERT INTO announcements (id, bot_id, category, content, audience_kind, "
                        "status, started_at) VALUES (:a, :bot, 'PLAIN_TEXT', '\"old\"', 'all', 'completed', now())"
                    ),
                    {"a": announcement_id, "bot": bot.id},
                )
                session.execute(
                    text("INSERT INTO deliveries " + _HISTORY_ROWS_0007.replace(":base +", "")),
                    {"a": announcement_id, "a_text": str(announcement_id), "bot": bot.id},
                )
        with db.session() as session:
            before = session.execute(text("SELECT count(*) FROM deliveries")).scalar_one()
        db.dispose()
        started = time.perf_counter()
        migrate.upgrade(engines.database_url, "0008")
        seconds = time.perf_counter() - started
        started = time.perf_counter()
        migrate.upgrade(engines.database_url)
        reasons_seconds = time.perf_counter() - started
        db = Database(engines.database_url)
        with db.session() as session:
            after = session.execute(text("SELECT count(*) FROM deliveries")).scalar_one()
        db.dispose()
    finally:
        engines.stop()
    per_million = seconds / max(before, 1) * 1_000_000
    reasons_per_million = reasons_seconds / max(before, 1) * 1_000_000
    run.save(
        {
            "rows_before": before,
            "rows_after": after,
            "seconds": round(seconds, 1),
            "seconds_per_million": round(per_million, 1),
            "reasons_seconds": round(reasons_seconds, 1),
            "reasons_seconds_per_million": round(reasons_per_million, 1),
        },
        f"migration 0008: {before:,} deliveries into per-announcement partitions in "
        f"{seconds:.1f} s ({per_million:.1f} s per million rows), {after:,} after; "
        f"0009 (reasons stored once): {reasons_seconds:.1f} s "
        f"({reasons_per_million:.1f} s per million rows)",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="0,10M,30M", help="rows of history to measure at")
    parser.add_argument("--audience", type=int, default=1_000_000)
    parser.add_argument(
        "--migration",
        default=None,
        help="instead: time migrations 0008 and 0009 over this many rows",
    )
    parser.add_argument(
        "--pg",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a Postgres setting for the bench's engine (ALTER SYSTEM, then a restart); repeatable",
    )
    parser.add_argument(
        "--rounds", type=int, default=3, help="measurements of every size, taken in turn"
    )
    parser.add_argument("--name", default="history", help="results file name")
    args = parser.parse_args()
    if args.migration:
        measure_migration(parse_size(args.migration), args.audience)
        return
    sizes = [parse_size(s) for s in args.sizes.split(",")]
    run = Run(args.name)
    RESULTS.mkdir(parents=True, exist_ok=True)
    partial = RESULTS / f"{run.name}.partial.json"
    loaded: list[Loaded] = []
    try:
        for size in sizes:
            loaded.append(load_size(size, args.audience, dict(i.split("=", 1) for i in args.pg)))
        # Side by side: each round measures every size once, in turn, so that the machine's
        # drift (other processes, the page cache, the CPU's clock) falls on all sizes alike.
        for round_ in range(1, args.rounds + 1):
            for history in loaded:
                figures = measure(history.db, history.engines, history.bot_id, args.audience)
                history.rounds.append(figures)
                print({"round": round_, "history_rows": history.rows, **figures}, flush=True)
            partial.write_text(json.dumps([h.point() for h in loaded], indent=2) + "\n")
    finally:
        for history in loaded:
            history.db.dispose()
            history.engines.stop()
    save(run, args.audience, [h.point() for h in loaded], args.pg)
    partial.unlink(missing_ok=True)


@dataclass
class Loaded:
    """One size of history, loaded in engines of its own and kept for every round."""

    engines: BenchEngines
    db: Database
    bot_id: int
    rows: int
    load_seconds: float
    rounds: list[dict[str, Any]] = field(default_factory=list)

    def point(self) -> dict[str, Any]:
        """The median of each figure over the rounds (every round's figures kept beside it)."""
        medians = {key: _median([r[key] for r in self.rounds]) for key in self.rounds[0]}
        return {
            "history_rows": self.rows,
            "load_seconds": self.load_seconds,
            **medians,
            "rounds": self.rounds,
        }


def _median(values: list[float]) -> float:
    middle = statistics.median(values)
    return round(middle) if all(isinstance(v, int) for v in values) else round(middle, 2)


def load_size(size: int, audience: int, settings: dict[str, str]) -> Loaded:
    """Engines of their own holding ``size`` rows of finished announcements to one audience."""
    engines = BenchEngines.start(f"history-{size}")
    configure_postgres(engines, settings)
    db = Database(engines.database_url)
    bot = default_bot(db, None)
    load_recipients(db, bot.id, audience)
    started, days = time.perf_counter(), 400
    while history_rows(db) + audience <= size:
        load_finished_announcement(db, bot.id, audience, days)
        days -= 1
    loaded = round(time.perf_counter() - started, 1)
    rows = history_rows(db)
    print(f"history {rows:,} rows loaded in {loaded} s", flush=True)
    return Loaded(engines, db, bot.id, rows, loaded)


def save(run: Run, audience: int, points: list[dict[str, Any]], postgres: list[str]) -> None:
    """The run's figures, plot and summary line."""
    plot(points, str(RESULTS / f"{run.name}.png"))
    first, last = points[0], points[-1]
    ratios = {
        key: round(last[key] / first[key], 2) if first.get(key) and last.get(key) else None
        for key, _, _ in FIGURES
    }
    summary = (
        f"history {first['history_rows']:,} -> {last['history_rows']:,} rows: planning "
        f"{first['planning_seconds']} -> {last['planning_seconds']} s, WAL/row "
        f"{first['wal_bytes_per_row']} -> {last['wal_bytes_per_row']} B, receipts "
        f"{first['receipts_per_second']:,} -> {last['receipts_per_second']:,}/s, show "
        f"{first['show_ms']} -> {last['show_ms']} ms, metrics {first['metrics_ms']} -> "
        f"{last['metrics_ms']} ms" + (f" (Postgres: {', '.join(postgres)})" if postgres else "")
    )
    run.save(
        {"audience": audience, "points": points, "ratios": ratios, "postgres": postgres},
        summary,
    )


if __name__ == "__main__":
    main()
