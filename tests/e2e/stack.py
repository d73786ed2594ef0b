"""An end-to-end stack for tests: the simulator on port 0 plus real blazecast processes."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select

from models import Announcement, AnnouncementStatus
from simulator import SimConfig, Simulator
from tests.factories import add_announcement, add_recipients
from worker.config import Settings
from worker.db import Database
from worker.supervisor import ProcessGroup, stack_env


@dataclass
class Stack:
    sim: Simulator
    group: ProcessGroup
    database: Database

    def announcement(self, announcement_id: uuid.UUID) -> Announcement:
        with self.database.session() as session:
            found = session.execute(
                select(Announcement).where(Announcement.id == announcement_id)
            ).scalar_one()
            return found

    def broadcast(self, text: str = "Service notice") -> Announcement:
        """Every simulated user as a recipient, and an announcement to all of them, due now."""
        with self.database.session() as session:
            add_recipients(session, 0, user_ids=self.sim.user_ids)
            return add_announcement(session, text)

    def wait_completed(self, announcement_id: uuid.UUID, *, timeout: float = 120) -> Announcement:
        """Wait until the announcement completed; return it as it is then."""
        self.wait_for(
            lambda: self.announcement(announcement_id).status is AnnouncementStatus.COMPLETED,
            timeout=timeout,
            what="the announcement to complete",
        )
        return self.announcement(announcement_id)

    def wait_for(
        self, condition: Callable[[], bool], *, timeout: float, what: str, poll: float = 0.25
    ) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return
            dead = self.group.dead()
            if dead:
                raise AssertionError(
                    f"{dead[0].name} exited while waiting for {what}:\n{dead[0].tail()}"
                )
            time.sleep(poll)
        logs = "\n".join(f"--- {c.name}\n{c.tail(15)}" for c in self.group.children)
        raise AssertionError(f"timed out after {timeout} s waiting for {what}\n{logs}")


@contextmanager
def running_stack(
    settings: Settings,
    database: Database,
    tmp_path: Path,
    sim_config: SimConfig,
    *,
    env: dict[str, str] | None = None,
    send_workers: int = 1,
) -> Iterator[Stack]:
    with Simulator(sim_config) as sim:
        group = process_group(settings, sim, tmp_path, env)
        with group:
            group.start_stack(send_workers=send_workers)
            yield Stack(sim, group, database)


def process_group(
    settings: Settings, sim: Simulator, tmp_path: Path, env: dict[str, str] | None = None
) -> ProcessGroup:
    """Children pointed at the test engines and at ``sim`` (logs under ``tmp_path / "logs"``)."""
    assert settings.database_url and settings.redis_url
    return ProcessGroup(
        stack_env(
            database_url=settings.database_url,
            redis_url=settings.redis_url,
            keystore=sim.keystore_path,
            api_url=sim.http_url,
            blaze_url=sim.blaze_url,
            home=tmp_path / "home",
            extra={"BLAZECAST_LOG_LEVEL": "INFO", **(env or {})},
        ),
        tmp_path / "logs",
    )


def stats(sim: Simulator) -> dict[str, Any]:
    return sim.stats()
