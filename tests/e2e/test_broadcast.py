"""End to end, through real processes: simulator, Celery workers, beat, listener, Postgres, Redis."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis

from models import AnnouncementStatus
from simulator import SimConfig
from simulator.config import UserBehaviour
from tests.e2e.stack import running_stack
from tests.factories import add_announcement, add_recipients
from worker.config import Settings
from worker.db import Database

pytestmark = pytest.mark.e2e


def test_ten_thousand_recipients_each_see_it_once_with_receipts(
    settings: Settings, clean_db: Database, redis_client: redis.Redis, tmp_path: Path
) -> None:
    config = SimConfig(users=10_000, seed=7, behaviour=UserBehaviour.fast())
    with running_stack(settings, clean_db, tmp_path, config) as stack:
        with clean_db.session() as session:
            add_recipients(session, 0, user_ids=stack.sim.user_ids)
            announcement = add_announcement(session, "Hello from blazecast 👋")
        stack.wait_for(
            lambda: stack.announcement(announcement.id).status is AnnouncementStatus.COMPLETED,
            timeout=120,
            what="the announcement to complete",
        )
        stack.wait_for(
            lambda: stack.announcement(announcement.id).read == 10_000,
            timeout=30,
            what=f"every READ receipt to be recorded ({stack.sim.stats()})",
        )
        done = stack.announcement(announcement.id)
        seen = stack.sim.stats()
    assert (done.total, done.sent, done.failed, done.skipped) == (10_000, 10_000, 0, 0)
    assert seen["visible_messages"] == 10_000
    assert seen["distinct_message_ids"] == 10_000
    assert (done.delivered, done.read) == (seen["messages_delivered"], seen["messages_read"])
    assert seen["max_rolling_60s"] <= 100_000
    assert seen["largest_batch"] <= 100
