"""Capacity: with the quota lifted, how many messages per second go end to end, what each costs in
CPU and where the time goes, against one Celery task per message with ``rate_limit``.

One run, one set of engines and one simulator (its quota lifted, every message DELIVERED and READ
within 0.2 s, so each message brings two receipts), three phases on the same audience:

1. blazecast: a broadcast is created; measured until every message is recorded as sent in
   Postgres *and* both receipts of every message are applied (``read == recipients``). CPU per
   message by component comes from psutil over that phase.
2. The same broadcast again (a new announcement) under py-spy, for the profile only: py-spy's
   sampling costs CPU, so this phase's rate is not the figure.
3. The baseline (``bench.baseline``): one Celery task per recipient, ``rate_limit`` at the quota,
   one ``POST /messages`` and one ``INSERT`` per message, as a real Celery worker with as many
   processes as blazecast's send worker; measured until every message is recorded.

    .venv/bin/python -m bench.capacity                         # 40,000 recipients, ~3 minutes
    .venv/bin/python -m bench.capacity --recipients 10000 --no-profile
    .venv/bin/python -m bench.capacity --provider imrest     # an IM REST bot (bench.capacity_imrest)
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
import uuid
from typing import Any

from celery import Celery
from sqlalchemy import func, select

from bench.harness import profiling
from bench.harness.engines import REPO
from bench.harness.population import make_audience
from bench.harness.results import RESULTS, Run
from bench.harness.sampling import Sampler
from bench.harness.simproc import FAST_BEHAVIOUR
from bench.harness.stack import BenchStack, running_stack
from models import Announcement, Delivery

LIFTED_QUOTA = 100_000_000  # per minute: far above anything two cores can send
QUOTA_PER_MINUTE = 100_000
TARGET_PER_SECOND = 5_000
TEXT = "Capacity bench: hello from blazecast"

Series = list[tuple[float, int, int]]  # seconds since start, messages recorded, READ applied


def _per_message(usage_cpu: dict[str, float], messages: int) -> dict[str, float]:
    """Microseconds of CPU per message, by component."""
    return {name: round(cpu / messages * 1e6, 1) for name, cpu in usage_cpu.items()}


def run_blazecast(
    stack: BenchStack, recipients: int, timeout: float
) -> tuple[dict[str, Any], Series]:
    """One broadcast to everyone; measured until all are recorded sent and all receipts applied."""
    sampler = Sampler(stack.components(), interval=0.5).start()
    series: Series = []
    started = time.monotonic()
    announcement_id = stack.announce(TEXT)
    sent_at: float | None = None

    def caught_up() -> bool:
        nonlocal sent_at
        done = stack.announcement(announcement_id)
        now = time.monotonic() - started
        series.append((round(now, 2), done.sent, done.read))
        if sent_at is None and done.sent == recipients:
            sent_at = now
        return done.sent == recipients and done.read == recipients

    elapsed = stack.wait_for(
        caught_up, timeout=timeout, what="every message sent and read", poll=0.1
    )
    cpu = {name: u.cpu_seconds for name, u in sampler.stop().items()}
    total_cpu = sum(cpu.values())
    figures = {
        "seconds_to_all_recorded_and_receipts_applied": round(elapsed, 2),
        "end_to_end_per_second": round(recipients / elapsed, 1),
        "seconds_to_all_recorded_sent": round(sent_at or elapsed, 2),
        "sent_recorded_per_second": round(recipients / (sent_at or elapsed), 1),
        "cpu_seconds": {name: round(v, 2) for name, v in cpu.items()},
        "cpu_microseconds_per_message": _per_message(cpu, recipients),
        "cpu_microseconds_per_message_total": round(total_cpu / recipients * 1e6, 1),
        "cores_busy": round(total_cpu / elapsed, 2),
    }
    return figures, series


def run_profile(stack: BenchStack, recipients: int, timeout: float) -> dict[str, Any]:
    if not profiling.available():
        return {"skipped": "py-spy is not installed (pip install py-spy)"}
    roots = {
        "send workers": stack.pids("worker-send")[0],
        "control/receipts worker": stack.pids("worker-control")[0],
        "listener": stack.pids("listener")[0],
    }
    with profiling.PySpy(roots, stack.workdir / "profile") as spy:
        announcement_id = stack.announce(TEXT + " (profiled)")
        stack.wait_for(
            lambda: stack.announcement(announcement_id).read == recipients,
            timeout=timeout,
            what="the profiled broadcast",
            poll=0.5,
        )
    return {name: profile.summary() for name, profile in spy.profiles.items()}


def run_baseline(
    stack: BenchStack, recipients: int, concurrency: int, timeout: float
) -> tuple[dict[str, Any], Series]:
    """The same broadcast as one Celery task per message, in a real Celery worker process."""
    # A draft: blazecast's own tick leaves it alone; it only gives the deliveries a parent.
    announcement_id = stack.announce(TEXT + " (baseline)", schedule=False)
    data = stack.announcement(announcement_id).data_base64
    assert data is not None
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "BASELINE_BROKER_URL": stack.engines.redis_url,
        "BASELINE_DATABASE_URL": stack.engines.database_url,
        "BASELINE_KEYSTORE": str(stack.sim.keystore_path),
        "BASELINE_API_URL": stack.sim.http_url,
        "BASELINE_RATE_LIMIT": f"{QUOTA_PER_MINUTE}/m",
    }
    log = open(stack.workdir / "logs" / "baseline-worker.log", "wb")  # noqa: SIM115
    worker = subprocess.Popen(
        [
            sys.executable,
            *("-m", "celery", "-A", "bench.baseline.app", "worker", "-Q", "baseline"),
            *("-c", str(concurrency), "-l", "WARNING", "-n", "baseline@%h"),
            *("--without-gossip", "--without-mingle"),
        ],
        env=env,
        cwd=REPO,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    components = stack.components()
    components["baseline worker"] = lambda: [worker.pid]
    series: Series = []
    try:
        app = Celery("bench-ping", broker=stack.engines.redis_url, set_as_current=False)
        stack.wait_for(
            lambda: any(
                "baseline@" in name for reply in app.control.ping(timeout=0.5) for name in reply
            ),
            timeout=60,
            what="the baseline worker",
        )
        app.close()
        from bench.baseline.app import app as baseline_app
        from bench.baseline.enqueue import enqueue_all

        baseline_app.conf.broker_url = stack.engines.redis_url
        sampler = Sampler(components, interval=0.5).start()
        started = time.monotonic()
        published = enqueue_all(stack.engines.database_url, announcement_id, data)
        enqueued_in = time.monotonic() - started

        def recorded() -> bool:
            with stack.database.session() as session:
                count = session.execute(
                    select(func.count()).where(Delivery.announcement_id == announcement_id)
                ).scalar_one()
                read = session.execute(
                    select(Announcement.read).where(Announcement.id == announcement_id)
                ).scalar_one()
            series.append((round(time.monotonic() - started, 2), count, read))
            return bool(count == recipients)

        elapsed = stack.wait_for(
            recorded, timeout=timeout, what="the baseline to record everyone", poll=0.1
        )
        elapsed += enqueued_in
        cpu = {name: u.cpu_seconds for name, u in sampler.stop().items()}
        time.sleep(2)  # receipts still on their way
        recorded()
    finally:
        worker.terminate()
        try:
            worker.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, 9)
        log.close()
    total_cpu = sum(cpu.values())
    figures = {
        "published": published,
        "seconds_to_publish": round(enqueued_in, 2),
        "seconds_to_all_recorded_sent": round(elapsed, 2),
        "sent_recorded_per_second": round(recipients / elapsed, 1),
        "read_receipts_applied_2s_later": series[-1][2],
        "cpu_seconds": {name: round(v, 2) for name, v in cpu.items()},
        "cpu_microseconds_per_message": _per_message(cpu, recipients),
        "cpu_microseconds_per_message_total": round(total_cpu / recipients * 1e6, 1),
        "concurrency": concurrency,
        "rate_limit": env["BASELINE_RATE_LIMIT"],
    }
    return figures, series


def plot(blazecast: Series, baseline: Series, path_png: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axis = plt.subplots(figsize=(9, 5))
    axis.plot(
        [t for t, _, _ in blazecast],
        [s for _, s, _ in blazecast],
        color="tab:blue",
        label="blazecast: recorded as sent",
    )
    axis.plot(
        [t for t, _, _ in blazecast],
        [r for _, _, r in blazecast],
        color="tab:blue",
        linestyle=":",
        label="blazecast: READ receipts applied",
    )
    axis.plot(
        [t for t, _, _ in baseline],
        [s for _, s, _ in baseline],
        color="tab:orange",
        label="one Celery task per message (rate_limit): recorded as sent",
    )
    axis.set_xlabel("seconds since the broadcast was created")
    axis.set_ylabel("messages")
    axis.set_title("Quota lifted: blazecast against one Celery task per message, same run")
    axis.legend(loc="lower right")
    axis.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path_png, dpi=110)
    plt.close(fig)


def main() -> None:
    if "--provider" in sys.argv and sys.argv[sys.argv.index("--provider") + 1 :][:1] == ["imrest"]:
        from bench import capacity_imrest

        capacity_imrest.main(sys.argv[1:])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--provider", choices=["mixin", "imrest"], default="mixin")
    parser.add_argument("--recipients", type=int, default=40_000)
    parser.add_argument("--send-workers", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--timeout", type=float, default=240.0, help="hard limit per phase")
    parser.add_argument("--no-profile", action="store_true")
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument("--seed", type=int, default=2)
    args = parser.parse_args()

    run = Run("capacity")
    audience = make_audience(args.recipients, seed=args.seed)
    with running_stack(
        "capacity",
        audience,
        quota_per_minute=LIFTED_QUOTA,
        send_workers=args.send_workers,
        concurrency=args.concurrency,
        behaviour=FAST_BEHAVIOUR,
        seed=args.seed,
    ) as stack:
        blazecast, blazecast_series = run_blazecast(stack, args.recipients, args.timeout)
        profile = {} if args.no_profile else run_profile(stack, args.recipients, args.timeout)
        baseline: dict[str, Any] = {}
        baseline_series: Series = []
        if not args.no_baseline:
            workers = args.send_workers * args.concurrency
            baseline, baseline_series = run_baseline(
                stack, args.recipients, workers, args.timeout * 2
            )
        seen = stack.sim.stats()

    rate = blazecast["end_to_end_per_second"]
    ratio = None
    if baseline:
        ratio = round(
            blazecast["sent_recorded_per_second"] / baseline["sent_recorded_per_second"], 1
        )
    RESULTS.mkdir(parents=True, exist_ok=True)
    png = RESULTS / "capacity.png"
    plot(blazecast_series, baseline_series, str(png))
    figures: dict[str, Any] = {
        "recipients": args.recipients,
        "send_workers": args.send_workers,
        "concurrency": args.concurrency,
        "target_per_second": TARGET_PER_SECOND,
        "met": rate >= TARGET_PER_SECOND,
        "blazecast": blazecast,
        "profile": profile,
        "baseline": baseline,
        "ratio_sent_recorded_blazecast_to_baseline": ratio,
        "simulator": {
            k: seen[k]
            for k in (
                "messages_accepted",
                "visible_messages",
                "duplicate_message_ids",
                "messages_read",
                "rate_limited_429",
                "requests",
            )
        },
        "plot": png.name,
        "run_id": str(uuid.uuid4()),
    }
    baseline_text = (
        f"; baseline (one Celery task per message) {baseline['sent_recorded_per_second']:,.0f} msg/s, "
        f"blazecast {ratio}x"
        if baseline
        else ""
    )
    run.save(
        figures,
        f"capacity: {rate:,.0f} msg/s end to end (sent, recorded, 2 receipts each applied; goal "
        f"{TARGET_PER_SECOND:,}), {blazecast['cpu_microseconds_per_message_total']:.0f} µs CPU per "
        f"message, {blazecast['cores_busy']} cores busy{baseline_text}",
    )


if __name__ == "__main__":
    main()
