"""The baseline's producer: one ``send_one`` task per recipient, published as fast as Celery can."""

from __future__ import annotations

import contextlib
import uuid

import psycopg2
from sqlalchemy import create_engine
from sqlalchemy.pool import NullPool

from bench.baseline.app import QUEUE, send_one
from worker.broadcast.partitions import ensure_partition
from worker.db import sqlalchemy_url


def enqueue_all(database_url: str, announcement_id: uuid.UUID, data_base64: str) -> int:
    """Publish a task for every active recipient (read with a server-side cursor); returns how many.

    The announcement's ``deliveries`` partition is made first, as the planner would."""
    engine = create_engine(sqlalchemy_url(database_url), poolclass=NullPool)
    with engine.begin() as connection:
        ensure_partition(connection, announcement_id)
    engine.dispose()
    published = 0
    with (
        contextlib.closing(psycopg2.connect(database_url)) as connection,
        connection.cursor(name="baseline-recipients") as cursor,
    ):
        cursor.itersize = 5_000
        cursor.execute(
            "SELECT id, user_id::text, conversation_id::text FROM recipients "
            "WHERE status = 'active' ORDER BY id"
        )
        for recipient_id, user_id, conversation_id in cursor:
            send_one.apply_async(
                (str(announcement_id), recipient_id, user_id, conversation_id, data_base64),
                queue=QUEUE,
            )
            published += 1
    return published
