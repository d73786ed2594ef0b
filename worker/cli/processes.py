"""``blazecast worker|beat|listen|flower``: the long-running processes, with the project's settings.

Each wraps the real Celery or Flower command around the app built from the settings, so that the
same command works on a laptop (embedded engines) and in docker compose (URLs from the environment).
"""

from __future__ import annotations

import click
from celery import Celery

from worker.config import ConfigError, get_settings
from worker.queues import ALL_QUEUES, prefetch_for


def _app() -> Celery:
    from worker.celery_app import create_app

    return create_app()


@click.command()
@click.option(
    "--queues",
    "-Q",
    default=",".join(ALL_QUEUES),
    show_default=True,
    help="Comma-separated queues to consume.",
)
@click.option(
    "--concurrency",
    "-c",
    type=click.IntRange(1, 64),
    default=2,
    show_default=True,
    help="Worker processes.",
)
@click.option("--hostname", "-n", default=None, help="Celery node name (unique per worker).")
@click.option("--loglevel", "-l", default=None, help="Log level (default: BLAZECAST_LOG_LEVEL).")
def worker(queues: str, concurrency: int, hostname: str | None, loglevel: str | None) -> None:
    """Run a Celery worker that sends batches, records receipts and does control work.

    \b
    Example (one worker for sending, one for the rest):
      blazecast worker -Q blazecast.send -c 2 -n send@%h
      blazecast worker -Q blazecast.receipts,blazecast.control -c 2 -n control@%h
    """
    settings = get_settings()
    app = _app()
    if "blazecast.send" in queues:
        app.blazecast_runtime.check_bots()  # fail now, in one line, if a key is unusable
    argv = [
        "worker",
        "-Q",
        queues,
        "-c",
        str(concurrency),
        "-l",
        loglevel or settings.log_level,
        "--without-gossip",
        "--without-mingle",
        "--prefetch-multiplier",
        str(prefetch_for(queues)),
    ]
    if hostname:
        argv += ["-n", hostname]
    app.worker_main(argv)


@click.command()
@click.option("--loglevel", "-l", default=None, help="Log level (default: BLAZECAST_LOG_LEVEL).")
def beat(loglevel: str | None) -> None:
    """Run the scheduler: a tick every second (start due announcements, feed the send queue)
    and a reaper every five seconds. Run exactly one beat per deployment.

    \b
    Example:
      blazecast beat
    """
    settings = get_settings()
    settings.home.mkdir(parents=True, exist_ok=True)
    _app().start(
        [
            "beat",
            "-l",
            loglevel or settings.log_level,
            "--schedule",
            str(settings.home.resolve() / "celerybeat-schedule"),
        ]
    )


@click.command()
@click.option(
    "--bot",
    "bot_names",
    multiple=True,
    metavar="NAME",
    help="Listen only for this bot (repeatable); default: every enabled Mixin bot.",
)
def listen(bot_names: tuple[str, ...]) -> None:
    """Hold each Mixin bot's Blaze connection: record DELIVERED/READ receipts and handle users'
    messages (first contact subscribes, /stop and /start).

    \b
    Examples:
      BLAZECAST_KEYSTORE=bot.json blazecast listen
      blazecast listen --bot shop --bot news
    """
    import logging

    from worker.listener import run_listener

    settings = get_settings()
    logging.basicConfig(
        level=settings.log_level, format="[%(asctime)s: %(levelname)s/listener] %(message)s"
    )
    run_listener(settings, bot_names)


@click.command()
@click.option("--port", type=int, default=None, help="Port (default: BLAZECAST_FLOWER_PORT).")
@click.option("--address", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option(
    "--allow-control",
    is_flag=True,
    help="Let authenticated users revoke or terminate tasks and control workers "
    "(default: read-only).",
)
def flower(port: int | None, address: str, allow_control: bool) -> None:
    """Run Flower, the Celery monitor, with basic auth and persistent state.

    Flower is never started without authentication: set BLAZECAST_FLOWER_BASIC_AUTH=user:password
    (the password may contain any character, commas too). Every page asks for it, /metrics and
    /healthcheck included. Flower is read-only unless --allow-control is given.

    \b
    Example:
      BLAZECAST_FLOWER_BASIC_AUTH=ops:s3cret blazecast flower --port 5555
    """
    import logging

    from worker.flower import FlowerOptions, run

    settings = get_settings()
    if not settings.flower_basic_auth:
        raise ConfigError(
            "BLAZECAST_FLOWER_BASIC_AUTH: not set; Flower never runs without authentication "
            "(use user:password)"
        )
    settings.home.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(
        level=settings.log_level, format="[%(asctime)s: %(levelname)s/flower] %(message)s"
    )
    options = FlowerOptions(
        credential=settings.flower_basic_auth,
        port=port or settings.flower_port,
        address=address,
        db_path=settings.home.resolve() / "flower.db",
        allow_control=allow_control,
    )
    run(_app(), options)


COMMANDS = [worker, beat, listen, flower]
