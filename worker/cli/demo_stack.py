"""The moving parts of ``blazecast demo``: simulated people, the running stack, and the checks
that turn a dead child or a stuck start into one clear error."""

from __future__ import annotations

import signal
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

import click
from sqlalchemy import text

from models import Base
from simulator import Simulator, UserBehaviour
from worker.db import Database, make_redis
from worker.supervisor import ProcessGroup

# Simulated people: most devices answer within a second, most people read within a few.
DEMO_BEHAVIOUR = UserBehaviour(
    delivery_median=0.2,
    delivery_sigma=0.6,
    delivery_max=4.0,
    read_probability=0.85,
    read_median=1.5,
    read_sigma=0.7,
    read_max=5.0,
    never_read_fraction=0.08,
    blocked_fraction=0.003,
    multi_device_fraction=0.05,
)
READY_TIMEOUT = 60.0
HANDLED_SIGNALS = (signal.SIGINT, signal.SIGTERM)
RECEIPTS_SETTLE_SECONDS = 2.0


class DemoFailed(click.ClickException):
    """A part of the demo stack died or did not come up; the message says which and where."""


@dataclass
class Demo:
    home: Path
    database: Database
    sim: Simulator
    group: ProcessGroup

    def check_children(self) -> None:
        dead = self.group.dead()
        if dead:
            click.echo(dead[0].tail(10), err=True)
            raise DemoFailed(f"{dead[0].name} exited; its log is {dead[0].log_path}")


def free_port(preferred: int) -> int:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", preferred))
        except OSError:
            sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def interruptible() -> Iterator[None]:
    """Inside, Ctrl-C and SIGTERM raise KeyboardInterrupt, even when a shell started the demo in
    the background (which leaves SIGINT ignored). On the way out both are ignored, so that
    stopping the stack cannot itself be cut short and leave children behind; the caller puts
    the previous handlers back (``saved_signal_handlers``)."""

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    for signum in HANDLED_SIGNALS:
        signal.signal(signum, interrupt)
    try:
        yield
    finally:
        for signum in HANDLED_SIGNALS:
            signal.signal(signum, signal.SIG_IGN)


@contextmanager
def saved_signal_handlers() -> Iterator[None]:
    previous = {signum: signal.getsignal(signum) for signum in HANDLED_SIGNALS}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def reset_state(database: Database, redis_url: str) -> None:
    """The demo's own database starts empty on every run, so its numbers are its own."""
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with database.engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))  # model names
    client = make_redis(redis_url)
    try:
        client.flushdb()
    finally:
        client.close()


def wait_for_listener(run: Demo) -> None:
    # Receipts that arrive while the bot has no listening connection are lost, as on Mixin.
    deadline = time.monotonic() + READY_TIMEOUT
    while run.sim.stats()["connections_listening"] < 1:
        run.check_children()
        if time.monotonic() > deadline:
            raise DemoFailed(
                f"the listener did not connect in {READY_TIMEOUT:.0f} s; "
                f"see {run.home / 'logs' / 'listener.log'}"
            )
        time.sleep(0.2)


def wait_until_listening(port: int, run: Demo) -> None:
    """Wait until a child serves ``port`` on 127.0.0.1 (then give it a second to subscribe)."""
    deadline = time.monotonic() + READY_TIMEOUT
    while True:
        run.check_children()
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                break
        if time.monotonic() > deadline:
            raise DemoFailed(f"nothing listened on port {port} in {READY_TIMEOUT:.0f} s")
        time.sleep(0.2)
    time.sleep(1.0)
