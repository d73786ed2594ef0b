"""Receipts on partitioned deliveries: the partition look-up against the apply statement.

One announcement to ``--recipients`` recipients is planned; then 50,000 DELIVERED receipts are
applied in buffers of 5,000 three ways, each on rows not yet touched: the look-up alone
(``find_announcements``), the whole ``apply_receipts`` (look-up, then the apply statement), and the
apply statement alone, told the announcement. Prints receipts per second for each.

    .venv/bin/python -m bench.receipt_lookup --recipients 200000
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import text
from sqlalchemy.orm import Session

from bench.harness.bots import bench_settings, create_announcement, default_bot
from bench.harness.engines import BenchEngines
from bench.history import load_recipients
from worker.broadcast import dispatcher, pipeline
from worker.broadcast import receipts as r
from worker.broadcast.dispatcher import Pace
from worker.db import Database

BUFFER = 5_000
PER_WAY = 50_000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipients", type=int, default=200_000)
    args = parser.parse_args()
    engines = BenchEngines.start("receipt_lookup")
    db = Database(engines.database_url)
    try:
        bot = default_bot(db, None)
        load_recipients(db, bot.id, args.recipients)
        settings = bench_settings(engines.database_url, engines.redis_url)
        announcement_id = create_announcement(db, settings, bot.id, "receipt lookup")
        with db.session() as session:
            dispatcher.start_due(session)
        config = pipeline.PipelineConfig(
            pace=Pace(high_water=1000, default_quota=10**8), plan_ahead=0, plan_page_size=20_000
        )
        pipeline.plan(
            db, pipeline.InlineBroker(), config, announcement_id, "b", start_sending=False
        )
        with db.session() as session:
            ids = [
                str(m) for m in session.execute(text("SELECT message_id FROM deliveries")).scalars()
            ]
        random.Random(1).shuffle(ids)
        at = datetime.now(UTC)

        def apply_only(session: Session, batch: list[tuple[str, str, datetime]]) -> None:
            session.execute(r.APPLY_RECEIPTS, r.apply_parameters(str(announcement_id), batch))

        ways: list[tuple[str, Callable[[Session, list[tuple[str, str, datetime]]], object]]] = [
            ("look-up only", lambda s, b: r.find_announcements(s, [m for m, _, _ in b])),
            ("apply_receipts", r.apply_receipts),
            ("apply statement only", apply_only),
        ]
        for n, (label, way) in enumerate(ways):
            chunk = ids[n * PER_WAY : (n + 1) * PER_WAY]
            started = time.perf_counter()
            for first in range(0, len(chunk), BUFFER):
                with db.session() as session:
                    way(session, [(m, "DELIVERED", at) for m in chunk[first : first + BUFFER]])
            print(f"{label}: {len(chunk) / (time.perf_counter() - started):,.0f} receipts/s")
    finally:
        db.dispose()
        engines.stop()


if __name__ == "__main__":
    main()
