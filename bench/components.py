"""The two hot paths one at a time, outside Celery: CPU per message of the send path, CPU per receipt
of the listener's Blaze connection.

``bench.capacity`` measures the whole deployment, where every process competes for two cores; this
isolates the code paths that dominate it, so that a change to either shows in its own figure:

1. Send path: ``BatchSender.send`` (the body of the ``send_batch`` task) in this process, over
   every batch of ``--recipients``, against the simulator (its own process, quota lifted) and the
   bench's embedded Postgres and Redis. Measured: this process's CPU per message sent, the Postgres
   processes' CPU per message, and the share of ``deliveries`` updates that were HOT (no index
   touched; ``pg_stat_user_tables``). ``--fillfactor 100`` sets the table back to Postgres' default
   first (bench/proposals/deliveries-fillfactor.md).
2. Listener: a subscribed ``BlazeClient`` in this process receives the DELIVERED and READ receipts
   of ``--recipients`` messages, sent by a child process (its CPU is not counted). Measured: this
   process's CPU per receipt, reading, decoding and handing over included.

    .venv/bin/python -m bench.components                       # 20,000 recipients, ~30 s
    .venv/bin/python -m bench.components --fillfactor 100
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import psutil
import redis
from sqlalchemy import text

from bench.harness.engines import REPO, BenchEngines
from bench.harness.population import import_recipients, make_audience, write_users_file
from bench.harness.results import Run
from bench.harness.simproc import FAST_BEHAVIOUR, SimulatorProcess
from worker.broadcast import dispatcher, planner, service
from worker.broadcast.retry import RetryPolicy
from worker.broadcast.sender import BatchSender, SenderConfig
from worker.db import Database
from worker.messaging.factory import make_transport
from worker.messaging.mixin.blaze import BlazeClient
from worker.messaging.mixin.keystore import load_keystore
from worker.messaging.transport import Receipt
from worker.ratelimit import TokenBuckets, quota_spec

LIFTED_QUOTA = 1_000_000_000

# The sender of the listener phase: a child process, so that its CPU is not the listener's.
SENDER = """
import sys
from worker.messaging.mixin.blaze import BlazeClient
from worker.messaging.mixin.ids import unique_conversation_id
from worker.messaging.mixin.keystore import load_keystore
from worker.messaging.mixin.payloads import encode_data
from worker.messaging.transport import OutgoingMessage

keystore_path, blaze_url, api_url, salt, *users = sys.argv[1:]
keystore = load_keystore(keystore_path)
client = BlazeClient(keystore, blaze_url, api_url, request_timeout=30)
data = encode_data(b"components bench")
for start in range(0, len(users), 100):
    client.send_messages([
        OutgoingMessage(
            conversation_id=unique_conversation_id(keystore.app_id, user),
            recipient_id=user,
            message_id=unique_conversation_id(salt, user),
            category="PLAIN_TEXT",
            data_base64=data,
        )
        for user in users[start : start + 100]
    ])
client.close()
"""


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _processes_cpu(pids: list[int]) -> float:
    """CPU seconds of these processes and their children (Postgres' backends, say)."""
    total = 0.0
    for pid in pids:
        try:
            root = psutil.Process(pid)
            processes = [root, *root.children(recursive=True)]
        except psutil.Error:
            continue
        for process in processes:
            try:
                times = process.cpu_times()
            except psutil.Error:
                continue
            total += times.user + times.system
    return total


def send_path(
    engines: BenchEngines, sim: SimulatorProcess, recipients: int, fillfactor: int | None
) -> dict[str, Any]:
    keystore = load_keystore(sim.keystore_path)
    database = Database(engines.database_url, synchronous_commit=False)  # as the send workers
    client = redis.Redis.from_url(engines.redis_url)
    try:
        with database.session() as session:
            if fillfactor is not None:
                session.execute(text(f"ALTER TABLE deliveries SET (fillfactor = {int(fillfactor)})"))
            announcement_id = service.create_announcement(
                session, category="PLAIN_TEXT", content="components bench"
            ).id
        with database.session() as session:
            dispatcher.start_due(session)
        while True:
            with database.session() as session:
                planner.claim_plan_lease(session, announcement_id, "bench")
                page = planner.plan_page(
                    session, announcement_id, page_size=20_000, batch_size=100
                )
            if page.finished:
                break
        with database.session() as session:
            batch_ids = dispatcher.dispatch(session, pace(recipients))
        transport = make_transport(
            "blaze", keystore, api_url=sim.http_url, blaze_url=sim.blaze_url, timeout=10
        )
        sender = BatchSender(
            database,
            transport,
            TokenBuckets(client),
            SenderConfig(
                bot_id=keystore.app_id,
                quota=quota_spec(keystore.app_id, LIFTED_QUOTA),
                retry=RetryPolicy(max_attempts=3, base_seconds=0.1, max_seconds=1.0),
                worker_name="bench",
            ),
        )
        sender.send(batch_ids[0])  # connections opened and statements compiled before the clock
        measured = batch_ids[1:]
        postgres_before, cpu_before = _processes_cpu(engines.postgres_pids()), _cpu_seconds()
        started = time.monotonic()
        sent = sum(sender.send(batch_id).sent for batch_id in measured)
        seconds = time.monotonic() - started
        cpu = _cpu_seconds() - cpu_before
        postgres = _processes_cpu(engines.postgres_pids()) - postgres_before
        transport.close()
        with database.session() as session:
            # Statistics reach pg_stat_* when a backend reports them; this one has just been used.
            session.execute(text("SELECT pg_stat_force_next_flush()"))
        time.sleep(1.0)
        with database.session() as session:
            updates, hot = session.execute(
                text(
                    "SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables "
                    "WHERE relname = 'deliveries'"
                )
            ).one()
            options = session.execute(
                text("SELECT reloptions FROM pg_class WHERE relname = 'deliveries'")
            ).scalar_one()
    finally:
        client.close()
        database.dispose()
    return {
        "messages_sent": sent,
        "seconds": round(seconds, 2),
        "messages_per_second": round(sent / seconds, 0),
        "sender_cpu_microseconds_per_message": round(cpu / sent * 1e6, 1),
        "postgres_cpu_microseconds_per_message": round(postgres / sent * 1e6, 1),
        "deliveries_updates": updates,
        "deliveries_hot_share": round(hot / updates, 3) if updates else None,
        "fillfactor": next(
            (int(o.split("=")[1]) for o in options or [] if o.startswith("fillfactor=")), 100
        ),
    }


def listener(sim: SimulatorProcess, user_ids: list[str], timeout: float) -> dict[str, Any]:
    keystore = load_keystore(sim.keystore_path)
    received = 0

    def on_push(push: object) -> None:
        nonlocal received
        if isinstance(push, Receipt):
            received += 1

    client = BlazeClient(
        keystore, sim.blaze_url, sim.http_url, on_push=on_push, subscribe=True, request_timeout=10
    )
    stop = threading.Event()
    thread = threading.Thread(target=client.run_forever, args=(stop,), daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not client.connected and time.monotonic() < deadline:
            time.sleep(0.05)
        expected = 2 * len(user_ids)  # DELIVERED and READ: the simulator's fast behaviour
        cpu_before, started = _cpu_seconds(), time.monotonic()
        subprocess.run(
            [
                sys.executable, "-c", SENDER,
                str(sim.keystore_path), sim.blaze_url, sim.http_url, str(uuid.uuid4()), *user_ids,
            ],
            cwd=REPO,
            check=True,
            timeout=timeout,
        )
        deadline = time.monotonic() + timeout
        while received < expected and time.monotonic() < deadline:
            time.sleep(0.02)
        seconds, cpu = time.monotonic() - started, _cpu_seconds() - cpu_before
    finally:
        stop.set()
        client.close()
        thread.join(timeout=5)
    return {
        "receipts": received,
        "receipts_expected": expected,
        "seconds": round(seconds, 2),
        "cpu_microseconds_per_receipt": round(cpu / max(received, 1) * 1e6, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipients", type=int, default=20_000)
    parser.add_argument("--fillfactor", type=int, default=None, help="of deliveries, first")
    parser.add_argument("--timeout", type=float, default=120.0)
    args = parser.parse_args()

    run = Run("components")
    engines = BenchEngines.start("components")
    audience = make_audience(args.recipients, seed=5)
    workdir = engines.home / "run"
    sim = SimulatorProcess.start(
        workdir,
        write_users_file(audience, Path(workdir) / "users.csv"),
        quota_per_minute=LIFTED_QUOTA,
        behaviour=FAST_BEHAVIOUR,
    )
    try:
        bot_id = str(load_keystore(sim.keystore_path).app_id)
        import_recipients(engines.database_url, audience.user_ids, bot_id)
        sending = send_path(engines, sim, args.recipients, args.fillfactor)
        listening = listener(sim, audience.user_ids, args.timeout)
    finally:
        sim.stop()
        engines.stop()
    for name, figures in (("send path", sending), ("listener", listening)):
        print(f"{name}:")
        for key, value in figures.items():
            print(f"  {key}: {value}")
    hot = sending["deliveries_hot_share"]
    summary = (
        f"components: send path {sending['sender_cpu_microseconds_per_message']} µs CPU per "
        f"message in the sender + {sending['postgres_cpu_microseconds_per_message']} µs in "
        f"Postgres ({sending['messages_per_second']:,.0f} msg/s from one process; "
        f"{hot:.0%} of deliveries updates HOT at fillfactor {sending['fillfactor']}); listener "
        f"{listening['cpu_microseconds_per_receipt']} µs CPU per receipt "
        f"({listening['receipts']:,}/{listening['receipts_expected']:,} receipts)"
    )
    run.save({"send_path": sending, "listener": listening}, summary)


if __name__ == "__main__":
    main()
