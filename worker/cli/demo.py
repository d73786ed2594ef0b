"""``blazecast demo``: the whole story on one machine, with nothing configured.

It starts its own embedded Postgres and Redis (under ``$BLAZECAST_HOME/demo``, so a configured
database is never touched), the Mixin simulator, the workers, beat and the listener as child
processes, imports the simulated users through the same code as ``blazecast users import``,
enqueues one announcement through the Python API, shows its progress live, prints a summary and
stops everything again: at the end, on an error, and on Ctrl-C or SIGTERM alike.
"""

from __future__ import annotations

import secrets
import time
import uuid
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import click
from rich.live import Live
from rich.text import Text

from simulator import SimConfig, Simulator
from worker import bots, embedded, migrate, progress, recipients
from worker.api import Blazecast
from worker.cli import render
from worker.cli.announce_show import RateMeter, eta, overall_rate
from worker.cli.demo_imrest import DEMO_QUOTA, run_imrest
from worker.cli.demo_stack import (
    DEMO_BEHAVIOUR,
    RECEIPTS_SETTLE_SECONDS,
    Demo,
    DemoFailed,
    free_port,
    interruptible,
    reset_state,
    saved_signal_handlers,
    wait_for_listener,
    wait_until_listening,
)
from worker.config import get_settings, load_settings
from worker.db import Database
from worker.progress import AnnouncementInfo
from worker.recipient_files import open_recipient_file
from worker.supervisor import ProcessGroup, stack_env

DEMO_MESSAGES: dict[str, Any] = {
    "PLAIN_TEXT": "Hello from blazecast 👋 This is the demo announcement.",
    "PLAIN_POST": "# blazecast demo\n\nThis **post** reached every simulated user once:\n\n"
    "- paced under the quota\n- retried when needed\n- tracked to READ",
    "APP_BUTTON_GROUP": [
        {"label": "Read more", "color": "#3D75E3", "action": "https://example.com/news"},
        {"label": "Unsubscribe", "color": "#7A7A7A", "action": "input:/stop"},
    ],
}


def _content(category: str, bot_id: str) -> Any:
    if category == "APP_CARD":
        return {
            "app_id": bot_id,
            "title": "blazecast demo",
            "description": "One card to every simulated user, under the quota.",
            "actions": [DEMO_MESSAGES["APP_BUTTON_GROUP"][0]],
        }
    return DEMO_MESSAGES[category]


@click.command()
@click.option("--users", type=click.IntRange(1, 200_000), default=3_000, show_default=True)
@click.option(
    "--category",
    type=click.Choice(["PLAIN_TEXT", "PLAIN_POST", "APP_CARD", "APP_BUTTON_GROUP"]),
    default="PLAIN_TEXT",
    show_default=True,
)
@click.option(
    "--provider",
    type=click.Choice(["mixin", "imrest"]),
    default="mixin",
    show_default=True,
    help="Mixin Messenger, or the IM REST API of seed 004 (its own simulator).",
)
@click.option(
    "--quota",
    type=click.IntRange(2),
    help="The simulated bot's quota: messages per minute for Mixin (default 100,000), requests "
    "per minute for IM REST (default 6,000).",
)
@click.option(
    "--transport", type=click.Choice(["blaze", "http"]), default="blaze", show_default=True
)
@click.option(
    "--keep",
    is_flag=True,
    help="Keep the stack up afterwards, with Flower and metrics, until Ctrl-C.",
)
def demo(
    users: int, category: str, provider: str, quota: int | None, transport: str, keep: bool
) -> None:
    """Run the whole story locally: embedded Postgres and Redis, the Mixin simulator, workers,
    beat and listener; import simulated users, send one announcement with live progress, print
    a summary, and shut everything down (also on Ctrl-C).

    \b
    Example:
      blazecast demo
      blazecast demo --users 20000 --category PLAIN_POST --keep
      blazecast demo --provider imrest
    """
    home = (get_settings().home / "demo").resolve()
    out = render.console()
    started = time.monotonic()
    try:
        with saved_signal_handlers():
            if provider == "imrest":
                if category != "PLAIN_TEXT" or transport != "blaze":
                    raise click.UsageError("--category and --transport are Mixin demo options")
                run_imrest(home, users, quota or DEMO_QUOTA, keep, out, _follow, _stopping)
            else:
                _run(home, users, category, quota or 100_000, transport, keep, out)
    except KeyboardInterrupt:
        out.print(f"interrupted; everything stopped ({time.monotonic() - started:.0f} s in all)")
        raise SystemExit(130) from None
    out.print(f"everything stopped ({time.monotonic() - started:.0f} s in all)")


def _run(
    home: Path, users: int, category: str, quota: int, transport: str, keep: bool, out: Any
) -> None:
    started = time.monotonic()
    # The stack is stopped after interruptible() ends, so that a second Ctrl-C cannot cut it short.
    with ExitStack() as stack, interruptible():
        out.print(f"demo home: {home} (its own engines; your configured database is not used)")
        urls = embedded.acquire(home, need_database=True, need_redis=True)
        stack.callback(embedded.release, home)
        migrate.upgrade(urls.database_url)
        database = Database(urls.database_url, pool_size=2)
        stack.callback(database.dispose)
        reset_state(database, urls.redis_url)
        out.print(f"engines ready: Postgres and Redis ({time.monotonic() - started:.1f} s)")

        sim = Simulator(
            SimConfig(
                users=users,
                behaviour=DEMO_BEHAVIOUR,
                quota_per_minute=quota,
                keystore_path=home / "simulator" / "keystore.json",
            )
        )
        stack.enter_context(sim)
        out.print(f"simulator: {sim.http_url} (bot {sim.bot_id}, {render.count(users)} users)")
        env = stack_env(
            database_url=urls.database_url,
            redis_url=urls.redis_url,
            keystore=sim.keystore_path,
            api_url=sim.http_url,
            blaze_url=sim.blaze_url,
            home=home,
            extra={"BLAZECAST_QUOTA_PER_MINUTE": str(quota), "BLAZECAST_TRANSPORT": transport},
        )
        group = ProcessGroup(env, home / "logs")
        stack.callback(_stopping, out, group)
        group.start_stack()
        run = Demo(home, database, sim, group)
        wait_for_listener(run)
        out.print(f"workers, beat and listener up (logs in {home / 'logs'})")

        _import_users(run, out)
        # Flower records the tasks it sees happen: with --keep it starts before the broadcast.
        monitoring = _start_monitoring(run, env) if keep else None
        settings = load_settings(
            database_url=urls.database_url,
            redis_url=urls.redis_url,
            home=home,
            quota_per_minute=quota,
        )
        enqueued = Blazecast(settings, database=database).enqueue(
            content=_content(category, sim.bot_id),
            category=category,
            key=f"demo-{uuid.uuid4()}",
            title=f"blazecast demo ({category})",
        )
        # Three times the time the quota needs, and a minute for the stack to warm up.
        final = _follow(run, enqueued.id, out, timeout=60 + 3 * 60 * users / quota)
        _summary(run, final, quota, out)
        if monitoring is not None:
            _keep_running(run, env, monitoring, out)


def _import_users(run: Demo, out: Any) -> None:
    users_csv = run.sim.population.write_csv(run.home / "users.csv")
    source = open_recipient_file(users_csv)
    with run.database.session() as session:
        # The demo's bot is the zero-configuration default one (BLAZECAST_KEYSTORE).
        bot = bots.ensure_default_bot(session)
        report = recipients.import_recipients(
            session, source.rows(bots.user_id_checker(bot.provider)), bot_id=bot.id
        )
    out.print(f"imported {render.count(report.inserted)} users from {users_csv}")


def _follow(
    run: Demo,
    announcement_id: uuid.UUID,
    out: Any,
    timeout: float,
    settle_seconds: float = RECEIPTS_SETTLE_SECONDS,
) -> AnnouncementInfo:
    """Live progress until sent, then until the receipts (or polled statuses) stop coming for
    ``settle_seconds``."""
    deadline = time.monotonic() + timeout
    meter = RateMeter(window=3.0)
    settled_since: float | None = None
    last_seen: tuple[int, int] = (-1, -1)
    with Live(console=out, auto_refresh=False) as live:
        while True:
            run.check_children()
            if time.monotonic() > deadline:
                raise DemoFailed(
                    f"the announcement did not finish in {timeout:.0f} s; "
                    f"the logs are in {run.home / 'logs'}"
                )
            with run.database.session() as session:
                info = progress.get_info(session, announcement_id)
            rate = meter.add(time.monotonic(), info.finished)
            if info.is_over:
                rate = overall_rate(info)
            live.update(render.progress_view(info, rate, eta(info, rate)), refresh=True)
            if info.is_over:
                seen = (info.delivered, info.read)
                if seen != last_seen:
                    last_seen, settled_since = seen, time.monotonic()
                elif settled_since and time.monotonic() - settled_since > settle_seconds:
                    return info
            time.sleep(0.25)


def _summary(run: Demo, info: AnnouncementInfo, quota: int, out: Any) -> None:
    from worker.report import write_report  # matplotlib: only when a report is drawn

    seen = run.sim.stats()
    with run.database.session() as session:
        failures = progress.failures_by_reason(session, info.id)
        files = write_report(session, info.id, run.home / "reports")
    sending = (
        (info.completed_at - info.first_sent_at).total_seconds()
        if info.completed_at and info.first_sent_at
        else None
    )
    peak = seen["max_rolling_60s"]
    out.print()
    if not out.is_terminal:
        out.print()  # Live leaves its last frame without a newline outside a terminal
    out.print(Text.assemble((info.title, "bold"), f": {info.status.value}"))
    out.print(f"  recipients  {render.count(info.total)}")
    out.print(
        f"  sent        {render.count(info.sent)} in {render.duration(sending)}"
        + (f" ({render.count(info.sent / sending)} msg/s)" if sending else "")
    )
    out.print(
        f"  delivered   {render.count(info.delivered)} "
        f"({render.percent(info.delivered, info.sent)} of sent)"
    )
    out.print(
        f"  read        {render.count(info.read)} ({render.percent(info.read, info.sent)} of sent)"
    )
    out.print(f"  failed      {render.count(info.failed)}")
    for failure in failures:
        out.print(f"    {render.count(failure.count)} × {failure.reason}")
    out.print(
        f"  quota use   peak {render.count(peak)} messages in 60 s of "
        f"{render.count(quota)} allowed ({render.percent(peak, quota)}); "
        f"{seen['rate_limited_429']} answered 429"
    )
    with run.database.session() as session:
        unreachable = progress.unreachable_count(session, info.id)
    reachable = info.total - unreachable
    once = seen["visible_messages"] == info.sent == seen["distinct_message_ids"]
    out.print(
        f"  reached     {render.count(info.sent)} of {render.count(reachable)} reachable users, "
        + ("each saw it once" if once else "[bold red]some saw it more than once[/bold red]")
        + f" ({render.count(seen['visible_messages'])} visible messages, "
        f"{render.count(seen['duplicate_message_ids'])} duplicate ids ignored)"
    )
    out.print(
        f"  unreachable {render.count(unreachable)} (the provider answered 403: the user blocked "
        f"the bot; the simulator makes {DEMO_BEHAVIOUR.blocked_fraction:.1%} of its users do so)"
    )
    # soft_wrap: a terminal narrower than the paths folds the line, never cuts a path in two.
    out.print(f"  report      {files.csv_path} and {files.png_path}", soft_wrap=True)


def _start_monitoring(run: Demo, env: dict[str, str]) -> tuple[str, int, int]:
    """Start Flower and the metrics exporter; returns (credential, Flower port, metrics port)."""
    settings = get_settings()
    auth = settings.flower_basic_auth or f"demo:{secrets.token_urlsafe(12)}"
    flower_port = free_port(settings.flower_port)
    metrics_port = free_port(settings.metrics_port)
    run.group.env = {**env, "BLAZECAST_FLOWER_BASIC_AUTH": auth}
    run.group.start("flower", "flower", "--port", str(flower_port))
    run.group.start("metrics", "metrics", "serve", "--port", str(metrics_port))
    # Flower subscribes to the workers' events within a second of starting.
    wait_until_listening(flower_port, run)
    return auth, flower_port, metrics_port


def _keep_running(
    run: Demo, env: dict[str, str], monitoring: tuple[str, int, int], out: Any
) -> None:
    auth, flower_port, metrics_port = monitoring
    user, _, password = auth.partition(":")
    out.print()
    out.print(f"Flower:     http://127.0.0.1:{flower_port}  (user {user}, password {password})")
    out.print(f"metrics:    http://127.0.0.1:{metrics_port}/metrics")
    out.print(f"simulator:  {run.sim.http_url}/_sim/stats")
    out.print("to use the CLI against this stack, in another shell:")
    for name in (
        "BLAZECAST_DATABASE_URL",
        "BLAZECAST_REDIS_URL",
        "BLAZECAST_KEYSTORE",
        "BLAZECAST_MIXIN_API_URL",
        "BLAZECAST_MIXIN_BLAZE_URL",
    ):
        out.print(f"  export {name}='{env[name]}'")
    out.print("stack is up; press Ctrl-C to stop everything")
    while True:
        run.check_children()
        time.sleep(0.5)


def _stopping(out: Any, group: ProcessGroup) -> None:
    out.print("stopping workers, beat, listener …")
    group.stop()


COMMANDS = [demo]
