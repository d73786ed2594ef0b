"""The Celery application: built from the settings, tasks registered, nothing else (STYLE 1)."""

from __future__ import annotations

from typing import Any

from celery import Celery
from celery.signals import celeryd_init, worker_process_init, worker_process_shutdown

import worker.liveness  # noqa: F401  (connects the worker heartbeat stamp: see liveness)
from worker import queues, redis_transport
from worker.config import Settings, get_settings
from worker.runtime import Runtime


def create_app(settings: Settings | None = None) -> Celery:
    settings = settings or get_settings()
    app = Celery("blazecast", set_as_current=True)
    # Also the default for other threads (the listener flushes from its own thread), which would
    # otherwise fall back to an unconfigured app that talks to a Redis on localhost.
    app.set_default()
    app.conf.update(queues.celery_config(settings))
    app.blazecast_runtime = Runtime(settings)
    app.autodiscover_tasks(["worker"], related_name="tasks", force=True)
    return app


def runtime_of(app: Celery) -> Runtime:
    runtime: Runtime = app.blazecast_runtime
    return runtime


@celeryd_init.connect
def _fixed_redis_transport(sender: object = None, conf: Any = None, **_: object) -> None:
    # Works around a kombu bug that makes a worker exit when Redis restarts (see
    # worker/redis_transport.py). Workers only: Flower tells brokers apart by the URL scheme.
    conf.broker_transport = redis_transport.TRANSPORT


@worker_process_init.connect
def _fresh_runtime_after_fork(sender: object = None, **_: object) -> None:
    # Sockets and pooled connections must not be shared across fork: each child builds its own.
    from celery import current_app

    runtime = getattr(current_app, "blazecast_runtime", None)
    if runtime is not None:
        current_app.blazecast_runtime = Runtime(runtime.settings)


@worker_process_shutdown.connect
def _close_runtime(sender: object = None, **_: object) -> None:
    from celery import current_app

    runtime = getattr(current_app, "blazecast_runtime", None)
    if runtime is not None:
        runtime.close()
