"""Queues, routing and Celery settings.

Three queues so that one kind of work never starves another: sending (the bulk), receipts (many
small applies) and control (beat ticks, planning, reaping). Tasks are acks_late: a worker killed
mid-batch loses no message. A worker that only sends reserves up to 4 messages per process
(prefetch), so that a process finishing a batch finds the next one already fetched: with 1, send
processes waited for the broker ~30 % of the time, with 4 ~16 % (py-spy dumps during a broadcast
with the quota lifted); the send queue is bounded (``dispatch``), so this never hoards a long
queue. Every other worker reserves 1: a killed worker's reserved messages come back only after
the visibility timeout. Receipts do not depend on that: a ``record_receipts`` message only asks
for the bot's receipts journal to be applied (``worker/broadcast/receipt_journal.py``), and beat
asks again every second.
"""

from __future__ import annotations

from typing import Any

from kombu import Queue

from worker.config import Settings
from worker.db import resolve_urls

SEND_QUEUE = "blazecast.send"
RECEIPTS_QUEUE = "blazecast.receipts"
CONTROL_QUEUE = "blazecast.control"
ALL_QUEUES = (SEND_QUEUE, RECEIPTS_QUEUE, CONTROL_QUEUE)

SEND_PREFETCH = 4
TICK_SECONDS = 1.0
REAP_SECONDS = 5.0
RECORD_SECONDS = 1.0
POLL_TICK_SECONDS = 1.0
ARCHIVE_SECONDS = 3600.0


def celery_config(settings: Settings) -> dict[str, Any]:
    broker = resolve_urls(settings).redis
    config: dict[str, Any] = {
        "broker_url": broker,
        "broker_connection_retry_on_startup": True,
        "result_backend": None,
        "task_ignore_result": True,
        "task_serializer": "json",
        "accept_content": ["json"],
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,  # send-only workers: ``prefetch_for``
        "task_default_queue": CONTROL_QUEUE,
        "task_queues": [Queue(name) for name in ALL_QUEUES],
        "task_routes": {
            "blazecast.send_batch": {"queue": SEND_QUEUE},
            "blazecast.record_receipts": {"queue": RECEIPTS_QUEUE},
            # Polled statuses are the receipts of a provider that pushes none.
            "blazecast.poll_statuses": {"queue": RECEIPTS_QUEUE},
        },
        # Flower and `celery events` need task events; they are cheap at our task rates.
        "worker_send_task_events": True,
        "task_send_sent_event": True,
        "worker_hijack_root_logger": False,
        # A reserved message whose worker died (SIGKILL) is handed out again after this long,
        # which matters for receipts: the provider never pushes them twice. Every task is
        # idempotent (a message handed out twice does its work once) and none runs for a minute
        # (planning a million recipients takes ~20 s, in pages), so one minute is safe.
        "broker_transport_options": {"visibility_timeout": 60},
        "beat_schedule": {
            # A tick or reap that waited longer than a few periods is stale: the next one does the
            # same work, so expire them rather than let a backlog of them pile up.
            "tick": {
                "task": "blazecast.tick",
                "schedule": TICK_SECONDS,
                "options": {"expires": TICK_SECONDS * 5},
            },
            # The safety net of the receipts journal: the listener asks for a recording after
            # each burst, but a lost ask or a killed recorder is made good here.
            "record_receipts": {
                "task": "blazecast.record_receipts",
                "schedule": RECORD_SECONDS,
                "options": {"expires": RECORD_SECONDS * 5},
            },
            # Status polling of providers that push no receipts (IM REST): plans the polls and
            # asks for a poll of each bot with polls due.
            "poll_tick": {
                "task": "blazecast.poll_tick",
                "schedule": POLL_TICK_SECONDS,
                "options": {"expires": POLL_TICK_SECONDS * 5},
            },
            "reap": {
                "task": "blazecast.reap",
                "schedule": REAP_SECONDS,
                "options": {"expires": REAP_SECONDS * 3},
            },
        },
        "timezone": "UTC",
    }
    if settings.history_archive_after_days:
        # Idempotent and resumable; an hour late is nothing for rows 90 days old.
        config["beat_schedule"]["archive_history"] = {
            "task": "blazecast.archive_history",
            "schedule": ARCHIVE_SECONDS,
            "options": {"expires": ARCHIVE_SECONDS},
        }
    return config


def prefetch_for(queues: str) -> int:
    """Messages reserved per worker process for a worker consuming ``queues`` (comma-separated)."""
    return SEND_PREFETCH if {q.strip() for q in queues.split(",")} == {SEND_QUEUE} else 1
