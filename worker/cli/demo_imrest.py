"""``blazecast demo --provider imrest``: the same story with an IM REST bot (seed 004).

It starts the embedded engines, the IM REST simulator (in this process) with its own users and
a few faults (replies dropped after the send ran, server errors), adds an IM REST bot whose token
is in a file the demo writes (only the file's path is stored), imports the users through the same
code as ``blazecast users import``, starts the workers and beat, enqueues one announcement, shows
its progress, waits for the status polls, prints a summary from blazecast's counters beside the
simulator's own counts, and stops everything.
"""

from __future__ import annotations

import os
import time
import uuid
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from rich.text import Text

from simulator.imrest import ImRestConfig, ImRestSimulator, RecipientBehaviour
from simulator.imrest.faults import FaultPlan
from worker import bots, embedded, migrate, recipients
from worker.api import Blazecast
from worker.cli import render
from worker.cli.demo_stack import Demo, interruptible, reset_state
from worker.config import load_settings
from worker.db import Database
from worker.progress import AnnouncementInfo
from worker.recipient_files import open_recipient_file
from worker.supervisor import ProcessGroup, stack_env

BOT_NAME = "demo-imrest"
# Most devices store the message within a second, most people read it within a few.
DEMO_IMREST_BEHAVIOUR = RecipientBehaviour(
    delivery_delay=0.4, read_delay=2.0, delivery_probability=0.97, read_probability=0.8, spread=0.8
)
# Faults the retries and the transaction_id dedup must absorb.
DEMO_FAULTS = FaultPlan(drop_rate=0.02, server_error_rate=0.02, seed=1)
# Statuses are polled 2, 5 and 10 s after each batch: a demo cannot wait for a real schedule.
DEMO_POLL_DELAYS = "2,5,10"
# A sample for ±5 % (about 340 of 3,000): each poll is a request, so the demo polls few.
DEMO_SAMPLE_MARGIN = 0.05
#: The demo bot's budget: 100 requests a second, so its 20 % for polls finishes in a minute.
DEMO_QUOTA = 6_000


def run_imrest(
    home: Path, users: int, quota: int, keep: bool, out: Any, follow: Any, stopping: Any
) -> None:
    """The IM REST demo; ``follow`` and ``stopping`` are the Mixin demo's own steps."""
    started = time.monotonic()
    with ExitStack() as stack, interruptible():
        out.print(f"demo home: {home} (its own engines; your configured database is not used)")
        urls = embedded.acquire(home, need_database=True, need_redis=True)
        stack.callback(embedded.release, home)
        migrate.upgrade(urls.database_url)
        database = Database(urls.database_url, pool_size=2)
        stack.callback(database.dispose)
        reset_state(database, urls.redis_url)
        out.print(f"engines ready: Postgres and Redis ({time.monotonic() - started:.1f} s)")

        sim = ImRestSimulator(
            ImRestConfig(users=users, behaviour=DEMO_IMREST_BEHAVIOUR, faults=DEMO_FAULTS)
        )
        stack.enter_context(sim)
        token = _write_token(home / "simulator" / "imrest.token", sim.admin_token)
        out.print(
            f"IM REST simulator: {sim.base_url} (app {sim.app_id}, sending account "
            f"{sim.sender_id}, {render.count(users)} users; 2 % of replies dropped after the "
            "send ran, 2 % answered HTTP 500)"
        )
        settings = load_settings(
            database_url=urls.database_url, redis_url=urls.redis_url, home=home
        )
        with database.session() as session:
            bot = bots.add_bot(
                session,
                settings,
                name=BOT_NAME,
                provider="imrest",
                credentials=f"file:{token}",
                quota_per_minute=quota,
                options={
                    "base_url": sim.base_url,
                    "app_id": sim.app_id,
                    "from_user_id": sim.sender_id,
                    "poll_delays": DEMO_POLL_DELAYS,
                    "sample_margin": DEMO_SAMPLE_MARGIN,
                },
            )
            out.print(
                f"bot {bot.name}: {render.count(quota)} requests/min, token read from {token} "
                "(only the path is stored)"
            )
        env = stack_env(
            database_url=urls.database_url,
            redis_url=urls.redis_url,
            keystore=None,
            api_url="http://127.0.0.1:9",  # no Mixin bot in this demo
            blaze_url="ws://127.0.0.1:9",
            home=home,
        )
        group = ProcessGroup(env, home / "logs")
        stack.callback(stopping, out, group)
        group.start_stack()
        run = Demo(home, database, None, group)  # type: ignore[arg-type]  # no Mixin simulator
        out.print(f"workers and beat up (logs in {home / 'logs'})")

        _import_users(run, sim, out)
        enqueued = Blazecast(settings, database=database).enqueue(
            "Hello from blazecast 👋 This is the IM REST demo announcement.",
            key=f"demo-imrest-{uuid.uuid4()}",
            title="blazecast demo (IM REST)",
            bot=BOT_NAME,
        )
        # A minute to warm up, three times what the budget needs for the sends (100 recipients a
        # request) and for every poll of everyone (at most three each, within polling's 20 %).
        requests = users / 100 + 3 * min(users, 2_000) / 0.2
        timeout = 60 + 3 * 60 * requests / quota
        final = follow(run, enqueued.id, out, timeout=timeout, settle_seconds=12.0)
        _summary(final, sim, quota, out)
        if keep:
            out.print(f"simulator:  {sim.base_url}/_sim/stats; press Ctrl-C to stop everything")
            while True:
                run.check_children()
                time.sleep(0.5)


def _write_token(path: Path, token: str) -> Path:
    """The admin token in a file only this user can read, as an operator would keep it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(token + "\n")
    return path.resolve()


def _import_users(run: Demo, sim: ImRestSimulator, out: Any) -> None:
    users_csv = run.home / "imrest-users.csv"
    users_csv.write_text("user_id\n" + "".join(f"{u}\n" for u in sim.user_ids))
    source = open_recipient_file(users_csv)
    with run.database.session() as session:
        bot = bots.resolve_bot(session, load_settings(home=run.home), BOT_NAME)
        report = recipients.import_recipients(
            session, source.rows(bots.user_id_checker("imrest")), bot_id=bot.id
        )
    out.print(f"imported {render.count(report.inserted)} users from {users_csv}")


def _summary(info: AnnouncementInfo, sim: ImRestSimulator, quota: int, out: Any) -> None:
    seen = sim.stats()
    sending = (
        (info.completed_at - info.first_sent_at).total_seconds()
        if info.completed_at and info.first_sent_at
        else None
    )
    copies = seen["per_user"]["copies"]
    injected = seen["faults_injected"]
    window = seen["requests_window"]
    out.print()
    if not out.is_terminal:
        out.print()
    out.print(Text.assemble((info.title, "bold"), f": {info.status.value}"))
    out.print(f"  recipients  {render.count(info.total)}")
    out.print(
        f"  sent        {render.count(info.sent)} in {render.duration(sending)}"
        + (f" ({render.count(info.sent / sending)} msg/s)" if sending else "")
    )
    if info.estimates is not None:
        # A uniform sample was polled: its rates are estimates, not counts.
        out.print(f"  {info.estimates.describe('delivered')}")
        out.print(f"  {info.estimates.describe('read')}")
        truth = seen["status_truth"]
        eventual = truth["eventual"]
        out.print(
            f"  the simulator's truth: delivered {render.percent(eventual['DELIVERED'] + eventual['READ'], truth['messages'])}, "
            f"read {render.percent(eventual['READ'], truth['messages'])}"
        )
    else:
        out.print(
            f"  delivered   {render.count(info.delivered)} "
            f"({render.percent(info.delivered, info.sent)} of sent)"
        )
        out.print(
            f"  read        {render.count(info.read)} "
            f"({render.percent(info.read, info.sent)} of sent)"
        )
    out.print(f"  failed      {render.count(info.failed)}; fate unknown {info.unknown}")
    once = copies == {"1": info.sent}
    out.print(
        f"  reached     {render.count(seen['per_user']['users'])} users, "
        + ("each saw it once" if once else f"[bold red]copies per user: {copies}[/bold red]")
        + f"; {injected.get('drop', 0)} replies dropped and {injected.get('server_error', 0)} "
        f"server errors retried, {seen['dedup']['hits']} repeats deduplicated by transaction_id"
    )
    out.print(
        f"  budget      peak {window['largest']} requests in 60 s of {render.count(quota)} "
        f"allowed ({render.percent(window['largest'], quota)}), sends and status polls together; "
        f"{seen['rate_limited_429']} answered 429"
    )
