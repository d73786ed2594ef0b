"""Planning: 1,000,000 recipients turned into deliveries and batches of 100, and the worker's memory.

The real control worker (``blazecast worker -Q blazecast.control,blazecast.receipts``) and beat
run against the bench's Postgres; no send worker runs, so nothing is sent. An announcement to
everyone is created; the beat tick starts it and the ``plan_announcement`` task plans it page by
page (``INSERT … SELECT`` over keyset pages of 20,000), all of it at once
(``BLAZECAST_PLAN_AHEAD=0``). Measured: seconds from the tick starting the announcement to
``planned`` (polled every 0.2 s), deliveries per second, and the resident memory of the worker's
processes every 0.2 s (flat means no row passes through Python).

    .venv/bin/python -m bench.planning                       # 1,000,000 recipients, ~1.5 minutes
    .venv/bin/python -m bench.planning --recipients 200000
"""

from __future__ import annotations

import argparse
import time
import uuid
from typing import Any

import psutil
from sqlalchemy import func, select

from bench.harness.bots import bench_settings, create_announcement, default_bot
from bench.harness.engines import BenchEngines
from bench.harness.population import import_recipients, make_audience
from bench.harness.results import RESULTS, Run, mib
from bench.harness.sampling import Sampler
from models import Announcement, Batch, Delivery
from worker.db import Database
from worker.supervisor import ProcessGroup, stack_env

TARGET_SECONDS = 20.0


def plot(progress: list[tuple[float, int]], rss: list[tuple[float, int]], path_png: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axis = plt.subplots(figsize=(9, 5))
    axis.plot(
        [t for t, _ in progress],
        [n for _, n in progress],
        color="tab:blue",
        label="deliveries planned",
    )
    axis.set_xlabel("seconds since the announcement was created")
    axis.set_ylabel("deliveries planned")
    memory = axis.twinx()
    memory.plot(
        [t for t, _ in rss],
        [mib(b) for _, b in rss],
        color="tab:red",
        label="largest pool process RSS (MiB)",
    )
    memory.set_ylabel("RSS, MiB")
    memory.set_ylim(0, max(mib(b) for _, b in rss) * 1.5)
    lines = axis.get_legend_handles_labels()
    more = memory.get_legend_handles_labels()
    axis.legend(lines[0] + more[0], lines[1] + more[1], loc="lower right")
    axis.set_title("Planning 1,000,000 recipients: progress and worker memory")
    fig.tight_layout()
    fig.savefig(path_png, dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipients", type=int, default=1_000_000)
    parser.add_argument("--timeout", type=float, default=180.0)
    args = parser.parse_args()

    run = Run("planning")
    engines = BenchEngines.start("planning")
    database = Database(engines.database_url)
    try:
        started_import = time.monotonic()
        bot = default_bot(database, None)  # no keystore: the control queue never sends
        user_ids = make_audience(args.recipients, seed=3).user_ids
        import_recipients(engines.database_url, user_ids, bot.id, str(uuid.UUID(int=7, version=4)))
        import_seconds = time.monotonic() - started_import
        workdir = engines.home / "run"
        group = ProcessGroup(
            stack_env(
                database_url=engines.database_url,
                redis_url=engines.redis_url,
                keystore=workdir / "no-keystore-needed.json",  # the control queue never sends
                api_url="http://127.0.0.1:9",
                blaze_url="ws://127.0.0.1:9/",
                home=workdir / "home",
                # Plan the whole audience at once: no send worker drains it here, and planning's
                # own speed is what this measures (by default it stays 50,000 ahead of sending).
                extra={"BLAZECAST_PLAN_AHEAD": "0"},
            ),
            workdir / "logs",
        )
        with group:
            group.start_control()
            group.start("beat", "beat")
            time.sleep(5)  # let the worker boot before the clock starts
            root = next(c.process.pid for c in group.children if c.name == "worker-control")
            sampler = Sampler(
                {
                    "control worker": lambda: [root],
                    # The pool processes run the tasks, plan_announcement included.
                    "pool processes": lambda: [p.pid for p in psutil.Process(root).children()],
                },
                interval=0.2,
            ).start()
            created = time.monotonic()
            settings = bench_settings(engines.database_url, engines.redis_url)
            announcement_id = create_announcement(database, settings, bot.id, "Planning bench")
            progress: list[tuple[float, int]] = []
            started_at: float | None = None
            while True:
                now = time.monotonic() - created
                with database.session() as session:
                    row = session.execute(
                        select(
                            Announcement.started_at, Announcement.planned, Announcement.total
                        ).where(Announcement.id == announcement_id)
                    ).one()
                progress.append((round(now, 2), row.total))
                if started_at is None and row.started_at is not None:
                    started_at = now
                if row.planned:
                    break
                if now > args.timeout:
                    raise TimeoutError(f"planning did not finish in {args.timeout} s")
                time.sleep(0.2)
            planned_at = now
            sampled = sampler.stop()
            usage, pool = sampled["control worker"], sampled["pool processes"]
        with database.session() as session:
            deliveries = session.execute(
                select(func.count()).where(Delivery.announcement_id == announcement_id)
            ).scalar_one()
            batches, largest = session.execute(
                select(func.count(), func.max(Batch.size)).where(
                    Batch.announcement_id == announcement_id
                )
            ).one()
    finally:
        database.dispose()
        engines.stop()

    seconds = planned_at - (started_at or 0.0)
    rss = pool.rss_series
    RESULTS.mkdir(parents=True, exist_ok=True)
    png = RESULTS / "planning.png"
    plot(progress, rss, str(png))
    first_rss = rss[0][1] if rss else 0
    figures: dict[str, Any] = {
        "recipients": args.recipients,
        "deliveries": deliveries,
        "batches": batches,
        "largest_batch": largest,
        "seconds_import_copy": round(import_seconds, 1),
        "seconds_started_to_planned": round(seconds, 2),
        "seconds_created_to_planned": round(planned_at, 2),
        "deliveries_per_second": round(deliveries / seconds, 0),
        "target_seconds": TARGET_SECONDS,
        "met": seconds <= TARGET_SECONDS and deliveries == args.recipients,
        "pool_process_rss_at_start_mib": mib(first_rss),
        "pool_process_peak_rss_mib": mib(pool.peak_rss_bytes),
        "pool_process_rss_growth_mib": mib(pool.peak_rss_bytes - first_rss),
        "worker_peak_rss_mib_any_process": mib(usage.peak_rss_bytes),
        "worker_cpu_seconds": round(usage.cpu_seconds, 2),
        "plot": png.name,
    }
    run.save(
        figures,
        f"planning: {deliveries:,} deliveries in {batches:,} batches planned in {seconds:.1f} s "
        f"(goal {TARGET_SECONDS:.0f} s, {deliveries / seconds:,.0f}/s); planning process peak RSS "
        f"{mib(pool.peak_rss_bytes)} MiB (+{mib(pool.peak_rss_bytes - first_rss)} MiB from its start)",
    )


if __name__ == "__main__":
    main()
