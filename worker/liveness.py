"""Is anything running? The beat tick's last run, and the workers that answer per queue.

Without a beat nothing scheduled ever starts, and without a send worker nothing queued is ever
sent; neither shows in Postgres. ``blazecast doctor``, the warnings of ``announce create``,
``schedule`` and ``status``, and the metrics exporter all ask here, so they agree.

The tick stamps Redis' clock into one key each time it runs (it runs on a control worker, so a
fresh stamp means a beat and a control worker are alive). Each worker stamps its name and queues
into a hash on every Celery heartbeat (2 s), so that asking costs one Redis read, not a broadcast
that waits for replies.
"""

from __future__ import annotations

import contextlib
import json
import math
from dataclasses import dataclass, field
from typing import Any

import redis
from celery.signals import heartbeat_sent

from worker.queues import ALL_QUEUES, SEND_QUEUE

TICK_KEY = "blazecast:liveness:last-tick"
WORKERS_KEY = "blazecast:liveness:workers"
# Celery workers send a heartbeat every 2 s; a few missed ones are a busy worker, not a dead one.
WORKER_STALE_SECONDS = 10.0
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


def record_heartbeat(client: redis.Redis, hostname: str, queues: list[str]) -> None:
    """A worker is alive and consumes ``queues`` (called on each of Celery's heartbeats)."""
    seconds, micros = client.time()
    stamp = {"queues": sorted(queues), "at": seconds + micros / 1e6}
    client.hset(WORKERS_KEY, hostname, json.dumps(stamp))


def workers_by_queue(client: redis.Redis) -> dict[str, list[str]]:
    """The workers heard from in the last ``WORKER_STALE_SECONDS``, by queue they consume (every
    blazecast queue is a key, possibly with no worker). Workers silent for a day are forgotten."""
    found: dict[str, list[str]] = {queue: [] for queue in ALL_QUEUES}
    seconds, micros = client.time()
    now = seconds + micros / 1e6
    stamps: dict[bytes, bytes] = client.hgetall(WORKERS_KEY)  # type: ignore[assignment]
    for raw_name, raw in sorted(stamps.items()):
        try:
            stamp = json.loads(raw)
            age, queues = now - float(stamp["at"]), list(stamp["queues"])
        except (ValueError, KeyError, TypeError):
            age, queues = math.inf, []
        if age > 86_400:
            client.hdel(WORKERS_KEY, raw_name)
        elif age <= WORKER_STALE_SECONDS:
            for queue in queues:
                found.setdefault(str(queue), []).append(raw_name.decode())
    return found


@heartbeat_sent.connect
def _on_heartbeat(sender: Any = None, **_: object) -> None:
    # In a worker's main process, every 2 s while it runs (Celery's worker-heartbeat event).
    eventer = getattr(sender, "eventer", None)
    app = getattr(eventer, "app", None)
    runtime = getattr(app, "blazecast_runtime", None)
    if eventer is None or runtime is None:
        return
    queues = list(app.amqp.queues.consume_from or {})  # type: ignore[union-attr]
    with contextlib.suppress(redis.RedisError):
        record_heartbeat(runtime.redis, eventer.hostname, queues)


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
                f"no worker heard from on {SEND_QUEUE} in the last {WORKER_STALE_SECONDS:.0f} s: "
                "nothing will be sent; "
                "run `blazecast worker` (it consumes every queue by default)"
            )
        return lines


def check(client: redis.Redis) -> Liveness:
    return Liveness(tick_age(client), workers_by_queue(client))


def safe_record_tick(client: redis.Redis) -> None:
    """``record_tick`` that never stops the tick: a lost stamp only makes a warning early."""
    with contextlib.suppress(redis.RedisError):
        record_tick(client)
