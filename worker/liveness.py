"""Is anything running? The beat tick's last run, and the workers that answer per queue.

Without a beat nothing scheduled ever starts, and without a send worker nothing queued is ever
sent; neither shows in Postgres. ``blazecast doctor``, the warnings of ``announce create``,
``schedule`` and ``status``, and the metrics exporter all ask here, so they agree.

The tick stamps Redis' clock into one key each time it runs (it runs on a control worker, so a
fresh stamp means a beat and a control worker are alive). Workers are asked directly, with
Celery's broadcast ``active_queues``: a worker that answers is consuming those queues now.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

import redis
from celery import Celery

from worker.queues import ALL_QUEUES, SEND_QUEUE

TICK_KEY = "blazecast:liveness:last-tick"
# A tick runs every second; a few missed ones are a busy worker, not a dead beat.
TICK_STALE_SECONDS = 15.0


def record_tick(client: redis.Redis) -> None:
    """Stamp the tick's run with Redis' clock (one clock for every host)."""
    seconds, micros = client.time()
    client.set(TICK_KEY, f"{seconds}.{micros:06d}", ex=86_400)


def tick_age(client: redis.Redis) -> float | None:
    """Seconds since the last tick ran, or None if none ran in the last day."""
    stamp = client.get(TICK_KEY)
    if stamp is None:
        return None
    seconds, micros = client.time()
    return max(seconds + micros / 1e6 - float(stamp), 0.0)


def workers_by_queue(app: Celery, timeout: float = 1.0) -> dict[str, list[str]]:
    """The workers that answered within ``timeout``, by queue they consume (every blazecast
    queue is a key, possibly with no worker)."""
    found: dict[str, list[str]] = {queue: [] for queue in ALL_QUEUES}
    replies = app.control.inspect(timeout=timeout).active_queues() or {}
    for worker, queues in sorted(replies.items()):
        for queue in queues or ():
            found.setdefault(str(queue.get("name")), []).append(worker)
    return found


@dataclass(frozen=True)
class Liveness:
    tick_age: float | None
    workers: dict[str, list[str]] = field(default_factory=dict)

    @property
    def beat_ok(self) -> bool:
        return self.tick_age is not None and self.tick_age <= TICK_STALE_SECONDS

    @property
    def send_ok(self) -> bool:
        return bool(self.workers.get(SEND_QUEUE))

    def problems(self) -> list[str]:
        """One line per missing process, saying what it means and what to run."""
        lines = []
        if not self.beat_ok:
            when = "never" if self.tick_age is None else f"{self.tick_age:.0f} s ago"
            lines.append(
                f"no beat tick recently (last: {when}): scheduled announcements will not start; "
                "run `blazecast beat` and a control worker (`blazecast worker`)"
            )
        if not self.send_ok:
            lines.append(
                f"no worker answered for {SEND_QUEUE}: nothing will be sent; "
                "run `blazecast worker` (it consumes every queue by default)"
            )
        return lines


def check(client: redis.Redis, app: Celery, *, timeout: float = 1.0) -> Liveness:
    return Liveness(tick_age(client), workers_by_queue(app, timeout))


def safe_record_tick(client: redis.Redis) -> None:
    """``record_tick`` that never stops the tick: a lost stamp only makes a warning early."""
    with contextlib.suppress(redis.RedisError):
        record_tick(client)
