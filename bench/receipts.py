"""Receipts: how many DELIVERED / READ receipts per second are applied to Postgres.

200,000 deliveries are planned (the real planner) and marked sent; then every one gets a
DELIVERED receipt and then a READ receipt, 5 % of them twice (a second device). They go the way
the listener sends them: appended to the bot's receipts journal in Redis in bursts of 1,000 (timed
on its own: the listener's side), then applied to Postgres by ``receipt_journal.record`` (the body
of the ``record_receipts`` task: read from the consumer group, ``apply_receipts``, commit, XACK
and XDEL), once by one process and once by two side by side (the control worker's default
concurrency), on the same rows reset in between. The counters are checked against the rows.

    .venv/bin/python -m bench.receipts                      # 200,000 deliveries, ~1 minute
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import random
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import psycopg2
from sqlalchemy import func, select, text, update

from bench.harness.bots import bench_settings, create_announcement, default_bot
from bench.harness.engines import BenchEngines
from bench.harness.population import import_recipients, make_audience
from bench.harness.results import Run
from models import Announcement, Delivery
from worker.broadcast import pipeline, receipt_journal
from worker.broadcast.pipeline import InlineBroker
from worker.db import Database, make_redis
from worker.runtime import Runtime

BURST = receipt_journal.ENTRY_RECEIPTS
BUFFER = receipt_journal.BUFFER_RECEIPTS
BOT = "bench-receipts"

TARGET_PER_SECOND = 10_000
SECOND_DEVICE_SHARE = 0.05
Receipt = tuple[str, str, datetime]


def _record(database_url: str, redis_url: str, consumer: str) -> int:
    """One recorder process: drain the journal; returns receipts applied."""
    database, client = Database(database_url), make_redis(redis_url)
    try:
        stream = receipt_journal.stream_key(BOT)
        return receipt_journal.record(
            client, database, stream, consumer, budget_seconds=600
        ).receipts
    finally:
        database.dispose()
        client.close()


def append(redis_url: str, bursts: list[list[Receipt]]) -> float:
    """Append the bursts as the listener does; returns the seconds it took."""
    client = make_redis(redis_url)
    try:
        journal = receipt_journal.ReceiptJournal(client, BOT)
        started = time.monotonic()
        for burst in bursts:
            journal.append(burst)
        return time.monotonic() - started
    finally:
        client.close()


def make_buffers(message_ids: list[str], status: str, seed: int) -> list[list[Receipt]]:
    """Receipts in roughly the order the messages went out, some twice, cut into buffers."""
    rng = random.Random(seed)
    now = datetime.now(UTC)
    items = [(m, status, now) for m in message_ids]
    items += [(m, status, now) for m in message_ids if rng.random() < SECOND_DEVICE_SHARE]
    # Devices answer at different speeds: order is kept only roughly (shuffled by windows).
    window = 2_000
    for start in range(0, len(items), window):
        chunk = items[start : start + window]
        rng.shuffle(chunk)
        items[start : start + window] = chunk
    return [items[i : i + BURST] for i in range(0, len(items), BURST)]


def vacuum(database_url: str) -> None:
    """VACUUM ANALYZE between runs, so that a run does not pay for the dead rows of the one
    before more than a live system with autovacuum would."""
    with contextlib.closing(psycopg2.connect(database_url)) as connection:
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE deliveries")


def run_pass(
    database_url: str, redis_url: str, bursts: list[list[Receipt]], processes: int
) -> tuple[int, float, float]:
    """Journal the bursts, then record them; returns (applied, record seconds, append seconds)."""
    appended = append(redis_url, bursts)
    started = time.monotonic()
    if processes == 1:
        applied = _record(database_url, redis_url, "bench-0")
    else:
        with multiprocessing.get_context("spawn").Pool(processes) as pool:
            args = [(database_url, redis_url, f"bench-{i}") for i in range(processes)]
            applied = sum(pool.starmap(_record, args))
    return applied, time.monotonic() - started, appended


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deliveries", type=int, default=200_000)
    parser.add_argument(
        "--appendfsync",
        choices=("everysec", "always"),
        default="everysec",
        help="Redis' AOF fsync policy for the run (the deployment's is everysec)",
    )
    args = parser.parse_args()

    run = Run("receipts")
    engines = BenchEngines.start("receipts")
    database = Database(engines.database_url)
    results: dict[str, Any] = {}
    control = make_redis(engines.redis_url)
    control.config_set("appendfsync", args.appendfsync)
    control.close()
    try:
        bot = default_bot(database, None)  # nothing is sent: receipts are applied directly
        user_ids = make_audience(args.deliveries, seed=4).user_ids
        import_recipients(engines.database_url, user_ids, bot.id, str(uuid.uuid4()))
        settings = bench_settings(engines.database_url, engines.redis_url, plan_ahead=0)
        announcement_id = create_announcement(database, settings, bot.id, "Receipts bench")
        # The pipeline's own tick and planner, in this process: every delivery planned.
        broker = InlineBroker()
        config = Runtime(settings).pipeline_config
        pipeline.tick(database, broker, config)
        for planned in broker.take_plans():
            pipeline.plan(database, broker, config, planned, "bench")
        with database.session() as session:
            message_ids = [
                str(m)
                for m in session.execute(
                    select(Delivery.message_id).order_by(Delivery.id)
                ).scalars()
            ]
        delivered = make_buffers(message_ids, "DELIVERED", seed=1)
        read = make_buffers(message_ids, "READ", seed=2)
        for processes in (1, 2):
            with database.session() as session:
                session.execute(
                    text(
                        "UPDATE deliveries SET state = 'sent', sent_at = now(), delivered_at = NULL, "
                        "read_at = NULL WHERE announcement_id = :a"
                    ),
                    {"a": announcement_id},
                )
                session.execute(
                    update(Announcement)
                    .where(Announcement.id == announcement_id)
                    .values(sent=args.deliveries, delivered=0, read=0)
                )
            vacuum(engines.database_url)
            passes = {}
            for name, buffers in (("DELIVERED", delivered), ("READ", read)):
                applied, seconds, appended = run_pass(
                    engines.database_url, engines.redis_url, buffers, processes
                )
                passes[name] = {
                    "receipts": applied,
                    "seconds": round(seconds, 2),
                    "per_second": round(applied / seconds, 0),
                    "journal_appends_per_second": round(applied / appended, 0),
                }
            with database.session() as session:
                done = session.get(Announcement, announcement_id)
                assert done is not None
                rows_read = session.execute(
                    select(func.count()).where(
                        Delivery.announcement_id == announcement_id, Delivery.read_at.is_not(None)
                    )
                ).scalar_one()
            total = sum(p["receipts"] for p in passes.values())
            seconds = sum(p["seconds"] for p in passes.values())
            results[f"{processes}_process"] = {
                **passes,
                "receipts_per_second": round(total / seconds, 0),
                "counters_exact": done.delivered == done.read == rows_read == args.deliveries,
            }
    finally:
        database.dispose()
        engines.stop()

    best = max(r["receipts_per_second"] for r in results.values())
    figures = {
        "deliveries": args.deliveries,
        "receipts_per_delivery": round(sum(map(len, delivered + read)) / args.deliveries, 3),
        "burst": BURST,
        "appendfsync": args.appendfsync,
        "buffer": BUFFER,
        "target_per_second": TARGET_PER_SECOND,
        **results,
        "met": results["1_process"]["receipts_per_second"] >= TARGET_PER_SECOND,
    }
    one, two = results["1_process"], results["2_process"]
    run.save(
        figures,
        f"receipts: {one['receipts_per_second']:,.0f}/s applied to Postgres by one process, "
        f"{two['receipts_per_second']:,.0f}/s by two (goal {TARGET_PER_SECOND:,}/s; buffers of "
        f"{BUFFER:,} through the Redis journal, appendfsync {args.appendfsync}; counters exact: {one['counters_exact'] and two['counters_exact']}); best {best:,.0f}/s",
    )


if __name__ == "__main__":
    main()
