"""Two bots in one deployment, through real processes: each bot's audience gets its own
announcement once, within its own quota, and receipts and users' messages land on the right bot."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis
from sqlalchemy import select

from models import Recipient, RecipientStatus
from simulator import SimConfig
from simulator.config import UserBehaviour
from tests.e2e.stack import running_stack
from tests.factories import add_announcement, add_recipients, default_bot_id
from worker import bots
from worker.config import Settings
from worker.db import Database

pytestmark = pytest.mark.e2e


def test_two_bots_each_reach_their_audience_once_under_their_own_quota(
    settings: Settings, clean_db: Database, redis_client: redis.Redis, tmp_path: Path
) -> None:
    users = 1_500
    # The quota binds within seconds: 6,000 a minute each in a 6 s window is 1,000 per second.
    config = SimConfig(
        users=users,
        bots=2,
        seed=11,
        behaviour=UserBehaviour.fast(),
        quota_per_minute=600,
        quota_window_seconds=6,
    )
    env = {"BLAZECAST_QUOTA_PER_MINUTE": "600", "BLAZECAST_QUOTA_WINDOW_SECONDS": "6"}
    with running_stack(settings, clean_db, tmp_path, config, env=env) as stack:
        sim = stack.sim
        second_key = sim.write_keystore(tmp_path / "second.json", bot=1)
        with clean_db.session() as session:
            first = default_bot_id(session)
            second = bots.add_bot(
                session, settings, name="second", credentials=f"file:{second_key}"
            ).id
            add_recipients(session, 0, user_ids=sim.user_ids, bot_id=first)
            add_recipients(session, 0, user_ids=sim.user_ids, bot_id=second)
            on_first = add_announcement(session, "from the first bot", bot_id=first)
            on_second = add_announcement(session, "from the second bot", bot_id=second)
        stack.wait_completed(on_first.id, timeout=90)
        stack.wait_completed(on_second.id, timeout=90)
        stack.wait_for(
            lambda: (
                stack.announcement(on_first.id).read + stack.announcement(on_second.id).read
                == sim.stats()["messages_read"]
            ),
            timeout=30,
            what="the READ receipts of both bots",
        )
        seen = sim.stats()
        # A user who says /stop to the second bot leaves its audience only.
        leaver = sim.user_ids[0]
        sim.user_says(leaver, "/stop", bot_id=sim.identities[1].bot_id)
        stack.wait_for(
            lambda: _status(clean_db, second, leaver) is RecipientStatus.UNSUBSCRIBED,
            timeout=20,
            what="the /stop to land on the second bot",
        )
        done = [stack.announcement(on_first.id), stack.announcement(on_second.id)]
    assert _status(clean_db, first, leaver) is RecipientStatus.ACTIVE
    assert [(a.total, a.sent, a.failed + a.skipped) for a in done] == [(users, users, 0)] * 2
    assert seen["visible_messages"] == seen["distinct_message_ids"] == 2 * users
    assert sum(a.delivered for a in done) == seen["messages_delivered"]
    assert sum(a.read for a in done) == seen["messages_read"]
    # Each bot kept its own quota (the simulator's exact count per bot) and none was refused.
    peaks = seen["max_rolling_60s_by_bot"]
    assert set(peaks) == {sim.identities[0].bot_id, sim.identities[1].bot_id}
    assert all(0 < peak <= 600 for peak in peaks.values()), peaks
    assert seen["rate_limited_429"] == 0


def _status(database: Database, bot_id: int, user: str) -> RecipientStatus:
    with database.session() as session:
        return session.execute(
            select(Recipient.status).where(Recipient.bot_id == bot_id, Recipient.user_id == user)
        ).scalar_one()
