"""A blazecast deployment with one IM REST bot, for the benches' ``--provider imrest``.

The IM REST simulator (``simulator.imrest``) serves in a thread of the bench process, so its
exact counters (requests per rolling window, dedup, per-user copies, true statuses) are read
directly; blazecast's processes (send worker(s), the control worker, beat, the listener) are the
same as for Mixin (``worker.supervisor``). The bot is added through ``worker.bots.add_bot`` with
its token in an environment variable, never in the database; its users are copied in as
recipients with one ``COPY``.
"""

from __future__ import annotations

import contextlib
import io
import shutil
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg2
from celery import Celery
from sqlalchemy import select

from bench.harness.bots import bench_settings
from bench.harness.engines import BenchEngines
from models import Announcement, Bot
from simulator.imrest import ImRestConfig, ImRestSimulator, RecipientBehaviour
from simulator.imrest.faults import FaultPlan
from worker import bots
from worker.broadcast import service
from worker.config import Settings
from worker.db import Database
from worker.supervisor import ProcessGroup, stack_env

TOKEN_VARIABLE = "BLAZECAST_BENCH_IMREST_TOKEN"
# Most people's devices store a message within a second; some read it a few seconds later.
BENCH_BEHAVIOUR = RecipientBehaviour(
    delivery_delay=0.5, read_delay=3.0, delivery_probability=0.95, read_probability=0.6, spread=0.8
)


@dataclass
class ImRestStack:
    engines: BenchEngines
    sim: ImRestSimulator
    group: ProcessGroup
    database: Database
    settings: Settings
    bot: Bot
    workdir: Path

    def announce(self, text: str, **kwargs: Any) -> uuid.UUID:
        with self.database.session() as session:
            announcement = service.create_announcement(
                session,
                bot_id=self.bot.id,
                provider=bots.provider_of(self.bot, self.settings),
                category="PLAIN_TEXT",
                content=text,
                **kwargs,
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
        poll: float = 0.5,
        allow_dead: bool = False,
    ) -> float:
        """Poll ``condition`` until true; returns the seconds waited. A child that died (unless
        ``allow_dead``: a fault campaign kills and restarts them) or the timeout raises."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if condition():
                return time.monotonic() - started
            dead = [] if allow_dead else self.group.dead()
            if dead:
                raise RuntimeError(f"{dead[0].name} exited while waiting for {what}")
            time.sleep(poll)
        logs = "\n".join(f"--- {c.name}\n{c.tail(15)}" for c in self.group.children)
        raise TimeoutError(f"timed out after {timeout} s waiting for {what}\n{logs}")

    def wait_ready(self, send_workers: int, timeout: float = 60.0) -> None:
        """Until every worker answers a ping: their start is not part of what a bench measures."""
        app = Celery("bench-ping", broker=self.engines.redis_url, set_as_current=False)
        try:
            self.wait_for(
                lambda: len(app.control.ping(timeout=0.5)) >= send_workers + 1,
                timeout=timeout,
                what="the workers to be ready",
            )
        finally:
            app.close()

    def pids(self, *names: str) -> list[int]:
        return [
            c.process.pid
            for c in self.group.children
            if c.alive() and any(c.name.startswith(n) for n in names)
        ]

    def components(self) -> dict[str, Callable[[], list[int]]]:
        """Every process by component; the simulator is a thread of this process. It comes first:
        the sampler gives a process to the last component whose tree holds it, and this
        process's tree holds every other (it started them)."""
        import os

        return {
            "simulator (bench process)": lambda: [os.getpid()],
            "send workers": lambda: self.pids("worker-send"),
            "control/receipts worker": lambda: self.pids("worker-control"),
            "beat": lambda: self.pids("beat"),
            "postgres": self.engines.postgres_pids,
            "redis": self.engines.redis_pids,
        }


@contextmanager
def running_imrest_stack(
    name: str,
    users: int,
    *,
    requests_per_minute: int,
    options: Mapping[str, Any] | None = None,
    faults: FaultPlan | None = None,
    behaviour: RecipientBehaviour = BENCH_BEHAVIOUR,
    send_workers: int = 1,
    concurrency: int = 4,
    env: Mapping[str, str] | None = None,
    seed: int = 1,
    run_name: str = "imrest",
) -> Iterator[ImRestStack]:
    """Engines, the IM REST simulator with ``users`` users, one bot with a budget of
    ``requests_per_minute``, its recipients, and the processes; all stopped on the way out."""
    engines = BenchEngines.start(name)
    workdir = engines.home / run_name
    shutil.rmtree(workdir, ignore_errors=True)
    config = ImRestConfig(
        users=users,
        seed=seed,
        behaviour=behaviour,
        faults=faults or FaultPlan(),
        # Every request's time, for the per-second plot.
        request_log_size=max(10_000, 4 * users // 100 + 50_000),
    )
    sim = ImRestSimulator(config).start()
    database = Database(engines.database_url)
    try:
        settings = bench_settings(engines.database_url, engines.redis_url)
        bot = _add_bot(database, settings, sim, requests_per_minute, options or {})
        _copy_recipients(engines.database_url, bot.id, sim.user_ids)
        group = ProcessGroup(
            stack_env(
                database_url=engines.database_url,
                redis_url=engines.redis_url,
                keystore=None,
                api_url="http://127.0.0.1:9",  # no Mixin bot in this deployment
                blaze_url="ws://127.0.0.1:9",
                home=workdir / "home",
                extra={TOKEN_VARIABLE: sim.admin_token, **(env or {})},
            ),
            workdir / "logs",
        )
        with group:
            group.start_stack(send_workers=send_workers, concurrency=concurrency)
            stack = ImRestStack(engines, sim, group, database, settings, bot, workdir)
            stack.wait_ready(send_workers)
            yield stack
    finally:
        sim.stop()
        database.dispose()
        engines.stop()


def _add_bot(
    database: Database,
    settings: Settings,
    sim: ImRestSimulator,
    requests_per_minute: int,
    options: Mapping[str, Any],
) -> Bot:
    import os

    os.environ[TOKEN_VARIABLE] = sim.admin_token  # read once here to check it; never stored
    with database.session() as session:
        bot = bots.add_bot(
            session,
            settings,
            name="im-bench",
            provider="imrest",
            credentials=f"env:{TOKEN_VARIABLE}",
            quota_per_minute=requests_per_minute,
            options={
                "base_url": sim.base_url,
                "app_id": sim.app_id,
                "from_user_id": sim.sender_id,
                **options,
            },
        )
        session.expunge(bot)
        return bot


def _copy_recipients(database_url: str, bot_id: int, user_ids: list[int]) -> None:
    buffer = io.StringIO("".join(f"{bot_id}\t{user}\n" for user in user_ids))
    with contextlib.closing(psycopg2.connect(database_url)) as connection:
        with connection.cursor() as cursor:
            cursor.copy_expert("COPY recipients (bot_id, user_id) FROM STDIN", buffer)
        connection.commit()
