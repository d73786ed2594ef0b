"""A control worker outlives a Redis restart while it holds an unacknowledged message.

Through a real ``blazecast worker`` process and a Redis server of the test's own (it is stopped and
started again, so it cannot be the shared one). The worker holds a task whose countdown has not
come (reserved, unacknowledged) and waits for more in BRPOP, as a control worker does mid-broadcast;
Redis then stops without saving and is back 2 s later, as in the fault campaign's ``restart_redis``.
With kombu's own Redis transport the worker exited here ("Unrecoverable error": see
``worker/redis_transport.py``).
"""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager, suppress
from pathlib import Path

import pytest
import redis
from celery import Celery

from worker import embedded
from worker.config import Settings
from worker.queues import CONTROL_QUEUE, RECEIPTS_QUEUE
from worker.supervisor import Child, ProcessGroup

pytestmark = pytest.mark.e2e


def _free_port() -> int:
    with closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def _redis_server(port: int, folder: Path) -> Iterator[subprocess.Popen[bytes]]:
    folder.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(
        [
            str(embedded.redis_server_binary()),
            *("--bind", "127.0.0.1", "--port", str(port), "--dir", str(folder)),
            *("--save", "", "--appendonly", "no"),
        ],
        stdout=subprocess.DEVNULL,
    )
    try:
        _until(lambda: _answers(port), timeout=10, what="Redis to start")
        yield process
    finally:
        with suppress(redis.RedisError):
            redis.Redis(port=port, socket_timeout=2).shutdown(nosave=True)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def _answers(port: int) -> bool:
    try:
        return bool(redis.Redis(port=port, socket_timeout=1).ping())
    except redis.RedisError:
        return False


def _until(
    condition: Callable[[], bool], *, timeout: float, what: str, worker: Child | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if worker is not None and not worker.alive():
            raise AssertionError(f"the worker exited while waiting for {what}:\n{worker.tail(40)}")
        if time.monotonic() > deadline:
            tail = worker.tail(40) if worker is not None else ""
            raise AssertionError(f"timed out after {timeout} s waiting for {what}\n{tail}")
        time.sleep(0.1)


def _waiting_in_brpop(client: redis.Redis) -> bool:
    try:
        clients = client.client_list()
    except redis.RedisError:
        return False
    # "b": blocked in a command, which for a worker is the BRPOP that waits for messages.
    return any("b" in entry.get("flags", "") for entry in clients)


def _queued(client: redis.Redis) -> int:
    return int(client.llen(CONTROL_QUEUE))


def test_control_worker_survives_a_redis_restart_with_a_task_reserved(
    settings: Settings, tmp_path: Path
) -> None:
    port = _free_port()
    url = f"redis://127.0.0.1:{port}/0"
    env = {
        "BLAZECAST_DATABASE_URL": str(settings.database_url),
        "BLAZECAST_REDIS_URL": url,
        "BLAZECAST_HOME": str(tmp_path / "home"),
        "BLAZECAST_LOG_LEVEL": "INFO",
        "PYTHONUNBUFFERED": "1",
    }
    producer = Celery("test-producer", broker=url, set_as_current=False)
    client = redis.Redis(port=port, socket_timeout=1)
    folder = tmp_path / "redis"
    with ProcessGroup(env, tmp_path / "logs") as group, closing(producer), closing(client):
        with _redis_server(port, folder):
            worker = group.start(
                "worker-control",
                *("worker", "-Q", f"{CONTROL_QUEUE},{RECEIPTS_QUEUE}", "-c", "2"),
                *("-n", "control@%h"),
            )
            _until(lambda: _waiting_in_brpop(client), timeout=30, what="the worker", worker=worker)
            # Not due for a minute: the worker keeps it reserved and unacknowledged, and waits in
            # BRPOP for more (its prefetch is not used up).
            producer.send_task("blazecast.reap", queue=CONTROL_QUEUE, countdown=60)
            _until(
                lambda: _queued(client) == 0,
                timeout=10,
                what="the task to be reserved",
                worker=worker,
            )
            _until(lambda: _waiting_in_brpop(client), timeout=10, what="BRPOP", worker=worker)

        time.sleep(2.0)  # Redis is down, and loses everything, as in the fault campaign
        with _redis_server(port, folder):
            # Celery retries the broker 2 s after losing it, then after 4 s more.
            _until(lambda: _waiting_in_brpop(client), timeout=15, what="a reconnect", worker=worker)
            producer.send_task("blazecast.reap", queue=CONTROL_QUEUE, countdown=60)
            _until(
                lambda: _queued(client) == 0,
                timeout=10,
                what="a task after the restart",
                worker=worker,
            )
            assert worker.alive()
            group.stop()
