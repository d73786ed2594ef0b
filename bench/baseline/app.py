"""One Celery task per message, paced by Celery's ``rate_limit``: the way this is usually written.

Configured from ``BASELINE_*`` variables (the bench sets them); run it as a real worker:

    celery -A bench.baseline.app worker -Q baseline -c 8

To be generous to the baseline it reuses blazecast's Mixin client (the JWT signing, the HTTP
``POST /messages`` call and the error classification an SDK gives you) and its deterministic
message ids, and records every send with one ``INSERT`` into ``deliveries``, so that blazecast's
listener applies its receipts exactly as it does for blazecast's own messages.
"""

from __future__ import annotations

import functools
import os
import uuid
from pathlib import Path

from celery import Celery
from sqlalchemy import Engine, create_engine, text

from worker.broadcast.partitions import partition_name
from worker.db import sqlalchemy_url
from worker.messaging.errors import PermanentError, TransientError
from worker.messaging.mixin.http import HttpTransport
from worker.messaging.mixin.ids import message_id_for
from worker.messaging.mixin.keystore import load_keystore
from worker.messaging.transport import OutgoingMessage

QUEUE = "baseline"
# Celery's rate limit: per worker process group, kept in memory. Set to the bot's quota.
RATE_LIMIT = os.environ.get("BASELINE_RATE_LIMIT", "100000/m")

app = Celery("baseline", broker=os.environ.get("BASELINE_BROKER_URL", "redis://127.0.0.1:6379/0"))
app.conf.update(
    task_default_queue=QUEUE,
    task_serializer="json",
    accept_content=["json"],
    task_ignore_result=True,
    worker_hijack_root_logger=False,
    broker_connection_retry_on_startup=True,
)

# Into the announcement's own partition (``enqueue_all`` made it): its unique index on the
# recipient is the conflict target. The name comes from a parsed UUID, never from input text.
RECORD_SENT = """
    INSERT INTO {partition} (announcement_id, recipient_id, message_id, state, attempts, sent_at)
    VALUES (:announcement_id, :recipient_id, :message_id, 'sent', 1, now())
    ON CONFLICT (recipient_id) DO NOTHING
    """


@functools.cache
def _engine() -> Engine:
    return create_engine(sqlalchemy_url(os.environ["BASELINE_DATABASE_URL"]), pool_size=2)


@functools.cache
def _transport() -> HttpTransport:
    keystore = load_keystore(Path(os.environ["BASELINE_KEYSTORE"]))
    return HttpTransport(keystore, os.environ["BASELINE_API_URL"], timeout=5.0)


@app.task(bind=True, rate_limit=RATE_LIMIT, acks_late=True, max_retries=8, name="baseline.send_one")
def send_one(
    self: object,
    announcement_id: str,
    recipient_id: int,
    user_id: str,
    conversation_id: str,
    data_base64: str,
) -> None:
    """Send one message; retry transient errors with Celery's retry; record it as sent."""
    message_id = message_id_for(announcement_id, user_id)
    message = OutgoingMessage(conversation_id, user_id, message_id, "PLAIN_TEXT", data_base64)
    try:
        _transport().send_messages([message])
    except TransientError as error:
        raise send_one.retry(exc=error, countdown=1) from error
    except PermanentError:
        return
    with _engine().begin() as connection:
        connection.execute(
            text(RECORD_SENT.format(partition=partition_name(uuid.UUID(announcement_id)))),
            {
                "announcement_id": uuid.UUID(announcement_id),
                "recipient_id": recipient_id,
                "message_id": uuid.UUID(message_id),
            },
        )
