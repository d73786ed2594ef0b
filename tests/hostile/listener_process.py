"""A real ``blazecast listen`` process against the simulator, for the listener's hostile cases.

Only the listener runs (no Celery worker): what is tested is what the listener itself does with
users' messages (handled, answered within quota, acknowledged) and with the provider's frames.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from simulator import SimConfig, Simulator
from tests.e2e.stack import process_group
from tests.factories import add_recipients
from worker.config import Settings
from worker.db import Database


@contextmanager
def listening(
    settings: Settings,
    database: Database,
    tmp_path: Path,
    config: SimConfig,
    *,
    env: dict[str, str] | None = None,
) -> Iterator[Simulator]:
    """The simulator, its users as recipients, and a listener subscribed to it."""
    with Simulator(config) as sim:
        with database.session() as session:
            add_recipients(session, 0, user_ids=sim.user_ids)
        group = process_group(settings, sim, tmp_path, env)
        with group:
            child = group.start("listener", "listen")
            wait_until(
                lambda: sim.stats()["connections_listening"] >= 1,
                timeout=30,
                what=lambda: f"the listener to subscribe:\n{child.tail()}",
            )
            yield sim


def wait_until(condition: Callable[[], bool], *, timeout: float, what: Callable[[], Any]) -> float:
    """Poll ``condition``; returns the seconds it took, or fails saying ``what()``."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if condition():
            return time.monotonic() - started
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what()}")
