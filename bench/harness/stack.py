"""A whole blazecast deployment for a bench: engines, simulator, and real worker processes.

``running_stack`` starts the bench's engines, the simulator (in its own process) with the
audience's users, imports those users as recipients, and starts the same processes as
``blazecast demo``: send worker(s), the control/receipts worker, beat and the listener
(``worker.supervisor``). Everything is stopped on the way out, whatever happened.
"""

from __future__ import annotations

import json
import shutil
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from celery import Celery
from sqlalchemy import select

from bench.harness.engines import BenchEngines
from bench.harness.population import Audience, import_recipients, write_users_file
from bench.harness.simproc import SimulatorProcess
from models import Announcement
from worker.broadcast import service
from worker.db import Database
from worker.supervisor import ProcessGroup, stack_env


@dataclass
class BenchStack:
    engines: BenchEngines
    sim: SimulatorProcess
    group: ProcessGroup
    database: Database
    workdir: Path
    bot_id: str
    send_workers: int

    def announce(self, text: str, **kwargs: Any) -> uuid.UUID:
        """Store an announcement to everyone through the service function the CLI uses."""
        with self.database.session() as session:
            announcement = service.create_announcement(
                session, category="PLAIN_TEXT", content=text, **kwargs
            )
            return announcement.id

    def announcement(self, announcement_id: uuid.UUID) -> Announcement:
        with self.database.session() as session:
            found: Announcement = session.execute(
                select(Announcement).where(Announcement.id == announcement_id)
            ).scalar_one()
            return found

    def wait_for(
        self,
        condition: Callable[[], bool],
        *,
        timeout: float,
        what: str,
        poll: float = 0.25,
        allow_dead: bool = False,
    ) -> float:
        """Poll ``condition`` until true; returns the seconds waited. A child that died (unless
        ``allow_dead``) or the timeout raises with the tails of the logs."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if condition():
                return time.monotonic() - started
            dead = [] if allow_dead else self.group.dead()
            if dead:
                raise RuntimeError(f"{dead[0].name} exited while waiting for {what}:\n{dead[0].tail()}")
            time.sleep(poll)
        logs = "\n".join(f"--- {c.name}\n{c.tail(15)}" for c in self.group.children)
        raise TimeoutError(f"timed out after {timeout} s waiting for {what}\n{logs}")

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Until every worker answers a ping and the listener is subscribed at the simulator."""
        app = Celery("bench-ping", broker=self.engines.redis_url, set_as_current=False)
        expected = self.send_workers + 1  # plus the control/receipts worker
        try:
            self.wait_for(
                lambda: len(app.control.ping(timeout=0.5)) >= expected
                and self.sim.stats()["connections_listening"] >= 1,
                timeout=timeout,
                what="the workers and the listener to be ready",
            )
        finally:
            app.close()

    def pids(self, *names: str) -> list[int]:
        """Root pids of the named children (a name prefix, like ``worker-send``)."""
        return [
            c.process.pid
            for c in self.group.children
            if c.alive() and any(c.name.startswith(n) for n in names)
        ]

    def components(self) -> dict[str, Callable[[], list[int]]]:
        """Every process of the deployment by component, for ``Sampler``."""
        return {
            "send workers": lambda: self.pids("worker-send"),
            "control/receipts worker": lambda: self.pids("worker-control"),
            "listener": lambda: self.pids("listener"),
            "beat": lambda: self.pids("beat"),
            "postgres": self.engines.postgres_pids,
            "redis": self.engines.redis_pids,
            "simulator": lambda: [self.sim.process.pid],
        }


@contextmanager
def running_stack(
    name: str,
    audience: Audience,
    *,
    quota_per_minute: int = 100_000,
    simulator_quota_per_minute: int | None = None,
    send_workers: int = 1,
    concurrency: int = 2,
    env: Mapping[str, str] | None = None,
    behaviour: dict[str, float | bool] | None = None,
    faults: dict[str, Any] | None = None,
    queue_receipts: bool = False,
    seed: int = 1,
    start_processes: bool = True,
    run_name: str = "run",
) -> Iterator[BenchStack]:
    """Engines, simulator, recipients and (unless ``start_processes=False``) the processes.

    Logs and files go to ``<engines home>/<run_name>``, emptied first (name runs apart to keep
    each one's logs)."""
    engines = BenchEngines.start(name)
    workdir = engines.home / run_name
    shutil.rmtree(workdir, ignore_errors=True)
    sim = SimulatorProcess.start(
        workdir,
        write_users_file(audience, workdir / "users.csv"),
        seed=seed,
        quota_per_minute=simulator_quota_per_minute or quota_per_minute,
        behaviour=behaviour,
        faults=faults,
        queue_receipts=queue_receipts,
    )
    database = Database(engines.database_url)
    try:
        bot_id = str(json.loads(sim.keystore_path.read_text())["app_id"])
        import_recipients(engines.database_url, audience.user_ids, bot_id)
        group = ProcessGroup(
            stack_env(
                database_url=engines.database_url,
                redis_url=engines.redis_url,
                keystore=sim.keystore_path,
                api_url=sim.http_url,
                blaze_url=sim.blaze_url,
                home=workdir / "home",
                extra={"BLAZECAST_QUOTA_PER_MINUTE": str(quota_per_minute), **(env or {})},
            ),
            workdir / "logs",
        )
        with group:
            stack = BenchStack(engines, sim, group, database, workdir, bot_id, send_workers)
            if start_processes:
                group.start_stack(send_workers=send_workers, concurrency=concurrency)
                stack.wait_ready()
            yield stack
    finally:
        sim.stop()
        database.dispose()
        engines.stop()
