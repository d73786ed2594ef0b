"""Flower, the Celery monitor, run the way blazecast needs it: authenticated everywhere, read-only
unless asked otherwise, with the columns an operator reads.

Flower's own command is not used because of three defects in how it takes its options:

- ``--basic-auth`` (and ``FLOWER_BASIC_AUTH``) split their value on commas into several
  credentials, so ``ops:Secret,Part2`` refused the real password and accepted ``ops:Secret`` and a
  bare ``Part2``. Here the one credential is set as a list of one, never parsed.
- ``/metrics`` and ``/healthcheck`` answer without authentication; here they ask for it like every
  other page (a health probe sends the credential; see ``docker-compose.yml``).
- Every authenticated user may revoke or terminate tasks, and shut down or resize workers. Flower
  starts read-only (its ``read_only`` option hides and refuses those actions) unless the operator
  passes ``--allow-control``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from celery import Celery

# The task list shows what each task was about (its keyword arguments name the batch and the
# announcement) and what came of it (its result), not only its name and times.
TASK_COLUMNS = "name,uuid,state,kwargs,result,received,started,runtime,worker"


@dataclass(frozen=True)
class FlowerOptions:
    credential: str  # "user:password", used as one credential whatever it contains
    port: int
    address: str
    db_path: Path
    allow_control: bool = False


def _authenticated(handler_class: type) -> type:
    """``handler_class`` with Flower's basic auth checked before it answers."""

    def prepare(self: Any) -> None:
        # get_current_user raises 401 for a missing or wrong credential.
        if not self.current_user:
            from tornado.web import HTTPError

            raise HTTPError(401)

    return type(f"Authenticated{handler_class.__name__}", (handler_class,), {"prepare": prepare})


def build(capp: Celery, options: FlowerOptions) -> Any:
    """The Flower tornado application for ``capp``, configured; not yet listening."""
    from flower import command
    from flower.app import Flower
    from flower.options import options as flower_options
    from flower.urls import settings
    from flower.views import monitor

    flower_options.basic_auth = [options.credential]
    flower_options.port = options.port
    flower_options.address = options.address
    flower_options.persistent = True
    flower_options.db = str(options.db_path)
    flower_options.read_only = not options.allow_control
    flower_options.tasks_columns = TASK_COLUMNS
    command.extract_settings()
    command.setup_logging()
    app = Flower(capp=capp, options=flower_options, **settings)
    # Handlers added later take precedence over Flower's own for the same path.
    app.add_handlers(
        r".*",
        [
            (r"/metrics", _authenticated(monitor.Metrics)),
            (r"/healthcheck", _authenticated(monitor.Healthcheck)),
        ],
    )
    return app


def run(capp: Celery, options: FlowerOptions) -> None:
    """Serve Flower until SIGTERM or Ctrl-C, saving its state to ``options.db_path``."""
    import atexit
    import contextlib
    import logging
    import signal
    import sys

    app = build(capp, options)
    atexit.register(app.stop)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    port = app.start_http_server()
    logging.getLogger(__name__).info(
        "Flower at http://%s:%s (%s)",
        options.address,
        port,
        "control allowed" if options.allow_control else "read-only",
    )
    with contextlib.suppress(KeyboardInterrupt, SystemExit):
        app.start()
