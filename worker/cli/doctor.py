"""``blazecast doctor``: is everything in place for an announcement to go out?

Checks, in the order sending needs them: where the data lives, the database (reachable and
migrated), Redis, the bots' credentials, a beat tick, a worker per queue, and a bot halted by a
401.
Each check prints one line (ok, or what is wrong and what to run); the exit code is 1 when
anything would keep announcements from being sent. The warnings of ``announce create``,
``schedule`` and ``status`` come from the same ``liveness`` checks.
"""

from __future__ import annotations

from pathlib import Path

import click
import redis
from rich.text import Text
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError

from models import Bot
from worker import liveness, migrate
from worker.cli import render
from worker.config import ConfigError, Settings, get_settings
from worker.db import Database, make_redis, resolve_urls
from worker.queues import ALL_QUEUES


@click.command()
def doctor() -> None:
    """Check that blazecast can send: data folder, database, Redis, keystore, beat, workers.

    \b
    Example:
      blazecast doctor
    """
    settings = get_settings()
    report = _Report()
    urls = resolve_urls(settings)
    report.ok("data", _where(settings))
    old = Path(".blazecast").resolve()
    if old.is_dir() and old != settings.home.resolve() and not settings.database_url:
        # The default used to be ./.blazecast: data kept there is not the data in use now.
        report.note("data", f"{old} is not used; BLAZECAST_HOME={old} would use it")
    _check_database(report, urls.database)
    client = make_redis(urls.redis)
    try:
        client.ping()
    except redis.RedisError as error:
        report.problem("redis", f"does not answer: {error}")
        click.get_current_context().exit(report.finish())
    report.ok("redis", "answers")
    _check_bots(report, settings)
    found = liveness.check(client)
    client.close()
    problems = found.problems()
    if found.beat_ok:
        report.ok("beat", f"last tick {found.tick_age:.1f} s ago")
    for queue in ALL_QUEUES:
        workers = found.workers.get(queue, [])
        if workers:
            report.ok(queue, f"{len(workers)} worker(s): {', '.join(workers)}")
        elif queue == liveness.SEND_QUEUE:
            pass  # named with what to run, below
        else:
            report.problem(queue, "no worker consumes it; run `blazecast worker`")
    for line in problems:
        report.problem("processes", line)
    click.get_current_context().exit(report.finish())


def _where(settings: Settings) -> str:
    if settings.database_url and settings.redis_url:
        return "BLAZECAST_DATABASE_URL and BLAZECAST_REDIS_URL (external servers)"
    return f"embedded engines under {settings.home.resolve()} (BLAZECAST_HOME)"


def _check_database(report: _Report, url: str) -> None:
    try:
        current = migrate.current(url)
    except DBAPIError as error:
        report.problem("database", f"does not answer: {str(error.orig).strip().splitlines()[0]}")
        return
    if current is None:
        report.problem("database", "empty: run `blazecast db upgrade`")
        return
    report.ok("database", f"migrated (revision {current})")
    database = Database(url, pool_size=1)
    try:
        with database.session() as session:
            halted = session.execute(
                select(Bot.name, Bot.halted_reason).where(Bot.halted_reason.is_not(None))
            ).all()
    finally:
        database.dispose()
    for name, reason in halted:
        report.problem(
            "bots", f"{name} halted: {reason}; fix it, then `blazecast announce resume ID`"
        )


def _check_bots(report: _Report, settings: Settings) -> None:
    from worker.runtime import Runtime

    runtime = Runtime(settings)
    try:
        runtime.check_bots()
    except (ConfigError, ValueError) as error:  # ValueError: a keystore or credential, by name
        report.problem("bots", str(error))
    else:
        report.ok("bots", "every enabled bot's credentials can be read")
    finally:
        runtime.close()


class _Report:
    def __init__(self) -> None:
        self.out = render.console()
        self.problems = 0

    def ok(self, what: str, detail: str) -> None:
        self.out.print(Text.assemble(("ok", "green"), f"       {what:<20} {detail}"))

    def note(self, what: str, detail: str) -> None:
        self.out.print(Text.assemble(("note", "yellow"), f"     {what:<20} {detail}"))

    def problem(self, what: str, detail: str) -> None:
        # Details can quote stored text (a halt reason): never read as Rich markup.
        self.problems += 1
        self.out.print(Text.assemble(("problem", "red"), f"  {what:<20} {detail}"))

    def finish(self) -> int:
        if self.problems:
            self.out.print(f"{self.problems} problem(s): announcements may not be sent")
            return 1
        self.out.print("everything needed to send is in place")
        return 0


COMMANDS = [doctor]
