"""A Mixin bot and an IM REST bot in one deployment, started together: each announcement goes
out at its own bot's quota, neither slows the other, and neither provider sees a request over
its limit."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis
from sqlalchemy import insert

from models import Recipient
from simulator import SimConfig
from simulator.config import UserBehaviour
from simulator.imrest import ImRestConfig, ImRestSimulator, RecipientBehaviour
from tests.e2e.stack import running_stack
from tests.factories import add_announcement, add_recipients, default_bot_id
from worker import bots
from worker.broadcast import service
from worker.config import Settings
from worker.db import Database

pytestmark = pytest.mark.e2e

TOKEN_VARIABLE = "BLAZECAST_E2E_IMREST_TOKEN"
WINDOW = 6  # seconds: the quotas bind within the test's few seconds
MIXIN_QUOTA = 600  # messages per window: 100 a second
IMREST_BUDGET = 12  # requests per window: 2 a second, 200 recipients a second


def test_a_mixin_and_an_imrest_announcement_each_go_at_their_own_quota(
    settings: Settings,
    clean_db: Database,
    redis_client: redis.Redis,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    mixin_users, imrest_users = 1_500, 3_000
    mixin_config = SimConfig(
        users=mixin_users,
        seed=5,
        behaviour=UserBehaviour.fast(),
        quota_per_minute=MIXIN_QUOTA,
        quota_window_seconds=WINDOW,
    )
    imrest_config = ImRestConfig(
        users=imrest_users, behaviour=RecipientBehaviour.fast(), budget_window_seconds=WINDOW
    )
    with ImRestSimulator(imrest_config) as imrest_sim:
        monkeypatch.setenv(TOKEN_VARIABLE, imrest_sim.admin_token)
        env = {
            TOKEN_VARIABLE: imrest_sim.admin_token,
            "BLAZECAST_QUOTA_PER_MINUTE": str(MIXIN_QUOTA),
            "BLAZECAST_QUOTA_WINDOW_SECONDS": str(WINDOW),
        }
        with running_stack(settings, clean_db, tmp_path, mixin_config, env=env) as stack:
            with clean_db.session() as session:
                mixin_bot = default_bot_id(session)
                imrest_bot = bots.add_bot(
                    session,
                    settings,
                    name="im",
                    provider="imrest",
                    credentials=f"env:{TOKEN_VARIABLE}",
                    quota_per_minute=IMREST_BUDGET,
                    options={
                        "base_url": imrest_sim.base_url,
                        "app_id": imrest_sim.app_id,
                        "from_user_id": imrest_sim.sender_id,
                    },
                )
                add_recipients(session, 0, user_ids=stack.sim.user_ids, bot_id=mixin_bot)
                session.execute(
                    insert(Recipient),
                    [{"bot_id": imrest_bot.id, "user_id": str(u)} for u in imrest_sim.user_ids],
                )
                on_mixin = add_announcement(session, "over Mixin", bot_id=mixin_bot)
                on_imrest = service.create_announcement(
                    session,
                    bot_id=imrest_bot.id,
                    provider=bots.provider_of(imrest_bot, settings),
                    category="PLAIN_TEXT",
                    content="over IM REST",
                )
            mixin_done = stack.wait_completed(on_mixin.id, timeout=120)
            imrest_done = stack.wait_completed(on_imrest.id, timeout=120)
            mixin_seen = stack.sim.stats()
        imrest_seen = imrest_sim.stats()

    assert (mixin_done.sent, imrest_done.sent) == (mixin_users, imrest_users)
    assert imrest_seen["per_user"]["copies"] == {"1": imrest_users}
    assert mixin_seen["visible_messages"] == mixin_users
    # Neither provider saw its limit exceeded in any window.
    assert mixin_seen["rate_limited_429"] == 0
    assert imrest_seen["requests_window"]["largest"] <= IMREST_BUDGET
    # Each went at its own quota: the time its quota needs (less the bucket's first burst),
    # and not much more, though both ran at once.
    for done, needed in (
        (mixin_done, mixin_users / (MIXIN_QUOTA / WINDOW)),
        (imrest_done, imrest_users / 100 / (IMREST_BUDGET / WINDOW)),
    ):
        assert done.first_sent_at and done.completed_at
        took = (done.completed_at - done.first_sent_at).total_seconds()
        assert needed * 0.85 <= took <= needed * 1.25 + 2, (done.title, took, needed)
