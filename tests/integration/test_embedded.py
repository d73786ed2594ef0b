"""Embedded engines: shared by several processes, started once, stopped when the last one leaves."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest
import redis

from worker import embedded

HOLDER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from worker import embedded
    urls = embedded.acquire(Path(sys.argv[1]), need_database=True, need_redis=True)
    print(urls.database_url, urls.redis_url, flush=True)
    sys.stdin.readline()  # hold the lease until told to exit
    """
)


@pytest.fixture
def home() -> Iterator[Path]:
    path = Path(__file__).resolve().parents[2] / ".blazecast" / "tests" / f"shared-{os.getpid()}"
    yield path
    embedded.stop_engines(path)
    shutil.rmtree(path, ignore_errors=True)


def _holder(home: Path) -> tuple[subprocess.Popen[str], str, str]:
    process = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(home)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    database_url, redis_url = process.stdout.readline().split()
    return process, database_url, redis_url


def _up(database_url: str, redis_url: str) -> tuple[bool, bool]:
    try:
        psycopg2.connect(database_url, connect_timeout=2).close()
        database = True
    except psycopg2.OperationalError:
        database = False
    try:
        cache = bool(redis.Redis.from_url(redis_url, socket_timeout=1).ping())
    except redis.RedisError:
        cache = False
    return database, cache


def _leave(process: subprocess.Popen[str]) -> None:
    assert process.stdin is not None and process.stdout is not None
    process.stdin.write("\n")
    process.stdin.close()
    assert process.wait(30) == 0
    process.stdout.close()


def test_processes_share_one_pair_and_the_last_one_stops_it(home: Path) -> None:
    first, database_url, redis_url = _holder(home)
    second, database_again, redis_again = _holder(home)
    assert (database_again, redis_again) == (database_url, redis_url)
    assert _up(database_url, redis_url) == (True, True)
    _leave(first)
    assert _up(database_url, redis_url) == (True, True)  # the second still holds a lease
    _leave(second)
    assert _up(database_url, redis_url) == (False, False)


def test_a_killed_holder_does_not_keep_the_engines_alive(home: Path) -> None:
    killed, database_url, redis_url = _holder(home)
    survivor, _, _ = _holder(home)
    killed.kill()
    killed.wait(10)
    for stream in (killed.stdin, killed.stdout):
        assert stream is not None
        stream.close()
    _leave(survivor)
    deadline = time.monotonic() + 10
    while _up(database_url, redis_url) != (False, False) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _up(database_url, redis_url) == (False, False)
    # And they come back, with the data kept, for the next user.
    again, database_url, redis_url = _holder(home)
    assert _up(database_url, redis_url) == (True, True)
    _leave(again)


def test_the_engine_compresses_full_page_images(home: Path) -> None:
    holder, database_url, _ = _holder(home)
    try:
        deadline = time.monotonic() + 10
        while True:  # the reload reaches new sessions within moments
            with psycopg2.connect(database_url) as conn, conn.cursor() as cursor:
                cursor.execute("SHOW wal_compression")
                setting = (cursor.fetchone() or ("",))[0]
            conn.close()
            if setting == "pglz" or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert setting == "pglz"
    finally:
        _leave(holder)
