"""Hostile input, listener: waves of users' commands are answered within quota and all acknowledged.

A wave of /stop after a big broadcast is what users do. Before issue 13 (items 1 and 2): more
than 100 messages in one flush were never answered nor acknowledged (the reply request was
refused, and the same wave came back on every reconnect), and replies went out without tokens
after a 30 s wait that held up every receipt behind it.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from models import Recipient, RecipientStatus
from simulator import SimConfig
from simulator.config import UserBehaviour
from tests.hostile.listener_process import listening, wait_until
from worker.config import Settings
from worker.db import Database

pytestmark = pytest.mark.hostile


def _statuses(database: Database) -> dict[RecipientStatus, int]:
    with database.session() as session:
        rows = session.execute(select(Recipient.status, func.count()).group_by(Recipient.status))
        return {status: count for status, count in rows.all()}


def test_a_burst_of_1000_commands_in_a_second_is_answered_and_acknowledged(
    settings: Settings, clean_db: Database, tmp_path: Path
) -> None:
    config = SimConfig(users=1_000, seed=21, behaviour=UserBehaviour.fast())
    with listening(settings, clean_db, tmp_path, config) as sim:
        users = sim.user_ids
        started = time.monotonic()
        for index, user in enumerate(users):
            sim.user_says(user, "/stop" if index % 2 == 0 else "/start")
        took = time.monotonic() - started
        created = sim.stats()["user_messages_created"]
        wait_until(
            lambda: sim.stats()["user_messages_acknowledged"] >= created,
            timeout=30,
            what=lambda: f"every user message to be acknowledged: {sim.stats()}",
        )
        wait_until(
            lambda: sim.stats()["visible_messages"] >= 1_000,
            timeout=30,
            what=lambda: f"1,000 replies: {sim.stats()}",
        )
        seen = sim.stats()
    assert took < 1.5, f"the burst took {took:.2f} s to inject"
    assert seen["visible_messages"] == 1_000 and seen["largest_batch"] <= 100
    assert seen["max_rolling_60s"] <= 100_000
    assert _statuses(clean_db) == {RecipientStatus.UNSUBSCRIBED: 500, RecipientStatus.ACTIVE: 500}


def test_replies_never_exceed_the_quota_and_never_hold_up_acknowledgements(
    settings: Settings, clean_db: Database, tmp_path: Path
) -> None:
    config = SimConfig(users=150, seed=22, behaviour=UserBehaviour.fast())
    env = {"BLAZECAST_QUOTA_PER_MINUTE": "100"}
    with listening(settings, clean_db, tmp_path, config, env=env) as sim:
        for wave in range(3):
            for user in sim.user_ids[wave * 50 : (wave + 1) * 50]:
                sim.user_says(user, "/start")
            time.sleep(1.0)
        created = sim.stats()["user_messages_created"]
        # All 150 are acknowledged at once, though only the quota's worth may be answered.
        wait_until(
            lambda: sim.stats()["user_messages_acknowledged"] >= created,
            timeout=10,
            what=lambda: f"every user message to be acknowledged: {sim.stats()}",
        )
        # The bucket starts empty and refills at ~1.5 tokens/s: replies trickle out.
        wait_until(
            lambda: sim.stats()["visible_messages"] > 0,
            timeout=30,
            what=lambda: f"the first replies: {sim.stats()}",
        )
        time.sleep(2.0)
        seen = sim.stats()
    assert seen["max_rolling_60s"] <= 100, seen
    assert 0 < seen["visible_messages"] <= 100
