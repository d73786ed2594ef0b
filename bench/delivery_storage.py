"""Storage per delivery: the bytes of one announcement's partition (table, TOAST, each index) per row.

Three partitions of the same audience, each written by the project's own functions:

- ``planned``: a new announcement just planned (``pipeline.plan``): every row pending, no reason;
- ``finished``: a finished announcement as ``bench.history`` loads it (1 % failed, each with its own
  reason naming the user, the rest sent, DELIVERED or READ);
- ``gave_up``: a planned announcement whose every batch then failed after its last retry
  (``outcomes.record_failed`` per batch, the reason the sender writes then: the error with its
  request id, the id kept in each row and the rest stored once);
- ``cancelled``: a planned announcement cancelled before sending (``close_idle_batches``): every row
  skipped with the reason ``cancelled``.

It also prints the average row (``pg_column_size``) and, where it exists, the reasons table.

    .venv/bin/python -m bench.delivery_storage --audience 200000
"""

from __future__ import annotations

import argparse
import uuid
from typing import Any

from sqlalchemy import text

from bench.harness.bots import bench_settings, create_announcement, default_bot
from bench.harness.engines import BenchEngines
from bench.harness.results import Run
from bench.history import load_finished_announcement, load_recipients
from worker.broadcast import dispatcher, outcomes, partitions, pipeline, state
from worker.broadcast.dispatcher import Pace
from worker.db import Database

GAVE_UP = "gave up after 5 attempts: mixin error 500: Internal Server Error [request {}]"


def plan_new(db: Database, engines: BenchEngines, bot_id: int, title: str) -> uuid.UUID:
    settings = bench_settings(engines.database_url, engines.redis_url)
    announcement_id = create_announcement(db, settings, bot_id, title)
    with db.session() as session:
        dispatcher.start_due(session)
    config = pipeline.PipelineConfig(
        pace=Pace(high_water=1000, default_quota=100_000_000), plan_ahead=0, plan_page_size=20_000
    )
    pipeline.plan(
        db, pipeline.InlineBroker(), config, announcement_id, "bench", start_sending=False
    )
    return announcement_id


def give_up_every_batch(db: Database, announcement_id: uuid.UUID) -> None:
    with db.session() as session:
        batches = session.execute(
            text(
                "SELECT batch_id, array_agg(id ORDER BY id) FROM deliveries "
                "WHERE announcement_id = :a GROUP BY batch_id ORDER BY batch_id"
            ),
            {"a": announcement_id},
        ).all()
    for _batch_id, ids in batches:
        with db.session() as session:
            outcomes.record_failed(
                session.connection(),
                announcement_id,
                ids,
                GAVE_UP.format(uuid.uuid4()),
                attempt=5,
            )


def cancel(db: Database, announcement_id: uuid.UUID) -> None:
    with db.session() as session:
        state.close_idle_batches(session, announcement_id, reason="cancelled")


def sizes(db: Database, announcement_id: uuid.UUID) -> dict[str, Any]:
    table = partitions.partition_name(announcement_id)
    with db.session() as session:
        rows = session.execute(
            text(f"SELECT count(*), avg(pg_column_size(d.*)) FROM {table} d")  # noqa: S608
        ).one()
        heap, toast = session.execute(
            text(
                "SELECT pg_relation_size(c.oid), "
                "coalesce(pg_total_relation_size(nullif(c.reltoastrelid, 0)), 0) "
                "FROM pg_class c WHERE c.oid = to_regclass(:t)"
            ),
            {"t": table},
        ).one()
        indexes = session.execute(
            text(
                "SELECT regexp_replace(i.indexrelid::regclass::text, '^.*_', ''), "
                "pg_relation_size(i.indexrelid) FROM pg_index i "
                "WHERE i.indrelid = to_regclass(:t) ORDER BY 1"
            ),
            {"t": table},
        ).all()
    count = int(rows[0])
    per_row = {name: round(size / count, 1) for name, size in indexes}
    total = heap + toast + sum(size for _, size in indexes)
    return {
        "rows": count,
        "row_bytes": round(float(rows[1]), 1),
        "heap": round(heap / count, 1),
        "toast": round(toast / count, 1),
        "indexes": per_row,
        "total": round(total / count, 1),
    }


def reasons_table(db: Database) -> dict[str, int] | None:
    with db.session() as session:
        if not session.execute(text("SELECT to_regclass('delivery_reasons') IS NOT NULL")).scalar():
            return None
        count, size = session.execute(
            text(
                "SELECT (SELECT count(*) FROM delivery_reasons), "
                "pg_total_relation_size('delivery_reasons')"
            )
        ).one()
    return {"rows": int(count), "bytes": int(size)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--audience", type=int, default=200_000)
    parser.add_argument("--name", default="delivery_storage", help="results file name")
    args = parser.parse_args()
    run = Run(args.name)
    engines = BenchEngines.start("delivery_storage")
    db = Database(engines.database_url)
    figures: dict[str, Any] = {"audience": args.audience}
    try:
        bot = default_bot(db, None)
        load_recipients(db, bot.id, args.audience)
        planned = plan_new(db, engines, bot.id, "planned")
        figures["planned"] = sizes(db, planned)
        load_finished_announcement(db, bot.id, args.audience, days_ago=30)
        with db.session() as session:
            finished = session.execute(
                text("SELECT id FROM announcements WHERE status = 'completed'")
            ).scalar_one()
        figures["finished"] = sizes(db, finished)
        gave_up = plan_new(db, engines, bot.id, "gave up")
        give_up_every_batch(db, gave_up)
        figures["gave_up"] = sizes(db, gave_up)
        cancelled = plan_new(db, engines, bot.id, "cancelled")
        cancel(db, cancelled)
        figures["cancelled"] = sizes(db, cancelled)
        figures["reasons_table"] = reasons_table(db)
    finally:
        db.dispose()
        engines.stop()
    for shape in ("planned", "finished", "gave_up", "cancelled"):
        print(shape, figures[shape], flush=True)
    print("reasons table", figures["reasons_table"])
    run.save(
        figures,
        "bytes per delivery (table + indexes): "
        + ", ".join(
            f"{s} {figures[s]['total']}" for s in ("planned", "finished", "gave_up", "cancelled")
        ),
    )


if __name__ == "__main__":
    main()
