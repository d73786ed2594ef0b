"""Driving IM REST status polling in this process, as beat and the workers do (benches, tests).

``poll_until_done`` runs the same two functions as the ``poll_tick`` and ``poll_statuses`` tasks
(``pipeline.poll_tick``, ``pipeline.poll``) until no poll of an announcement is left.
"""

from __future__ import annotations

import time
import uuid

from sqlalchemy import func, insert, select

from models import Recipient, RecipientStatus, StatusPoll
from worker.broadcast import pipeline
from worker.broadcast.pipeline import InlineBroker
from worker.messaging.provider import StatusPolling
from worker.runtime import Runtime


def add_imrest_audience(
    runtime: Runtime, bot_id: int, user_ids: list[int], tagged: frozenset[int] = frozenset()
) -> None:
    """Recipients as IM REST ids (decimal text), inserted directly; ``tagged`` get tag ``a``."""
    rows = [
        {
            "bot_id": bot_id,
            "user_id": str(u),
            "status": RecipientStatus.ACTIVE,
            "tags": ["a"] if u in tagged else [],
        }
        for u in user_ids
    ]
    with runtime.db.session() as session:
        for start in range(0, len(rows), 10_000):
            session.execute(insert(Recipient), rows[start : start + 10_000])


def polling_of(runtime: Runtime) -> dict[int, StatusPolling]:
    """The enabled bots whose statuses are polled, as the poll tick task finds them."""
    found = {b: bot.provider.status_polling for b, bot in runtime.polling_bots().items()}
    return {b: polling for b, polling in found.items() if polling is not None}


def polls_left(runtime: Runtime, announcement_id: uuid.UUID) -> int:
    """Poll rows of the announcement still due or waiting for their delivery to be sent."""
    with runtime.db.session() as session:
        return int(
            session.execute(
                select(func.count()).where(
                    StatusPoll.announcement_id == announcement_id,
                    StatusPoll.next_poll_at.is_not(None) | StatusPoll.status.is_(None),
                )
            ).scalar_one()
        )


def poll_until_done(runtime: Runtime, announcement_id: uuid.UUID, timeout: float) -> int:
    """The poll tick and each due bot's poll, every 0.1 s, until the announcement's polls are
    planned and none is left; returns the poll runs made."""
    broker = InlineBroker()
    deadline = time.monotonic() + timeout
    runs = 0
    while time.monotonic() < deadline:
        for bot_id in pipeline.poll_tick(runtime.db, broker, polling_of(runtime)):
            pipeline.poll(runtime.db, runtime.bot(bot_id), runtime.buckets)
            runs += 1
        broker.take_polls()
        if runs and polls_left(runtime, announcement_id) == 0:
            return runs
        time.sleep(0.1)
    left = polls_left(runtime, announcement_id)
    raise RuntimeError(f"{left} polls still due after {timeout:g} s")
