"""Receipts: how many DELIVERED / READ receipts per second are applied to Postgres.

200,000 deliveries are planned (the real planner) and marked sent; then every one gets a
DELIVERED receipt and then a READ receipt, 5 % of them twice (a second device), applied through
``worker.broadcast.receipts.apply_receipts`` (the body of the ``record_receipts`` task) in buffers
of 5,000, one transaction each, as the listener hands them over. Run once with one process and
once with two processes side by side (the control worker's default concurrency), on the same
rows reset in between. The counters of the announcement are checked against the rows.

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

from bench.harness.engines import BenchEngines
from bench.harness.population import import_recipients, make_audience
from bench.harness.results import Run
from models import Announcement, AnnouncementStatus, Delivery
from worker.broadcast import planner, receipts, service
from worker.db import Database
from worker.listener import MAX_RECEIPTS_PER_TASK

TARGET_PER_SECOND = 10_000
SECOND_DEVICE_SHARE = 0.05
Receipt = tuple[str, str, datetime]


def _apply(database_url: str, buffers: list[list[Receipt]]) -> int:
    """One recorder process: apply its buffers, one transaction each; returns receipts applied."""
    database = Database(database_url)
    try:
        applied = 0
        for buffer in buffers:
            with database.session() as session:
                applied += receipts.apply_receipts(session, buffer).received
        return applied
    finally:
        database.dispose()


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
    return [items[i : i + MAX_RECEIPTS_PER_TASK] for i in range(0, len(items), MAX_RECEIPTS_PER_TASK)]


def vacuum(database_url: str) -> None:
    """VACUUM ANALYZE between runs, so that a run does not pay for the dead rows of the one
    before more than a live system with autovacuum would."""
    with contextlib.closing(psycopg2.connect(database_url)) as connection:
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE deliveries")


def run_pass(database_url: str, buffers: list[list[Receipt]], processes: int) -> tuple[int, float]:
    shares = [buffers[i::processes] for i in range(processes)]
    started = time.monotonic()
    if processes == 1:
        applied = _apply(database_url, buffers)
    else:
        with multiprocessing.get_context("spawn").Pool(processes) as pool:
            applied = sum(pool.starmap(_apply, [(database_url, share) for share in shares]))
    return applied, time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deliveries", type=int, default=200_000)
    args = parser.parse_args()

    run = Run("receipts")
    engines = BenchEngines.start("receipts")
    database = Database(engines.database_url)
    results: dict[str, Any] = {}
    try:
        import_recipients(
            engines.database_url, make_audience(args.deliveries, seed=4).user_ids, str(uuid.uuid4())
        )
        with database.session() as session:
            announcement_id = service.create_announcement(
                session, category="PLAIN_TEXT", content="Receipts bench"
            ).id
            session.execute(
                update(Announcement)
                .where(Announcement.id == announcement_id)
                .values(status=AnnouncementStatus.SENDING)
            )
        while True:
            with database.session() as session:
                if planner.plan_page(session, announcement_id, page_size=20_000, batch_size=100).finished:
                    break
        with database.session() as session:
            message_ids = [str(m) for m in session.execute(select(Delivery.message_id).order_by(Delivery.id)).scalars()]
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
                applied, seconds = run_pass(engines.database_url, buffers, processes)
                passes[name] = {"receipts": applied, "seconds": round(seconds, 2),
                                "per_second": round(applied / seconds, 0)}
            with database.session() as session:
                done = session.get(Announcement, announcement_id)
                assert done is not None
                rows_read = session.execute(
                    select(func.count()).where(Delivery.announcement_id == announcement_id, Delivery.read_at.is_not(None))
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
        "buffer": MAX_RECEIPTS_PER_TASK,
        "target_per_second": TARGET_PER_SECOND,
        **results,
        "met": results["1_process"]["receipts_per_second"] >= TARGET_PER_SECOND,
    }
    one, two = results["1_process"], results["2_process"]
    run.save(
        figures,
        f"receipts: {one['receipts_per_second']:,.0f}/s applied to Postgres by one process, "
        f"{two['receipts_per_second']:,.0f}/s by two (goal {TARGET_PER_SECOND:,}/s; buffers of "
        f"{MAX_RECEIPTS_PER_TASK:,}; counters exact: {one['counters_exact'] and two['counters_exact']}); best {best:,.0f}/s",
    )


if __name__ == "__main__":
    main()
