"""An IM REST bot through real processes: 5,000 simulated users, replies dropped after the
request ran and requests refused with 5xx or code 20000; every user sees the message once, the
dedup shows in the simulator's counts, and the request budget holds in every window."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import insert

from models import Recipient
from simulator.imrest import ImRestConfig, ImRestSimulator, RecipientBehaviour
from simulator.imrest.faults import FaultPlan
from tests.e2e.stack import Stack
from worker import bots
from worker.broadcast import service
from worker.config import Settings
from worker.db import Database
from worker.supervisor import ProcessGroup, stack_env

pytestmark = pytest.mark.e2e

TOKEN_VARIABLE = "BLAZECAST_E2E_IMREST_TOKEN"
WINDOW_SECONDS = 6
REQUESTS_PER_WINDOW = 60  # 10 requests a second


def test_every_user_sees_the_message_exactly_once_within_the_request_budget(
    settings: Settings, clean_db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    users = 5_000
    faults = FaultPlan(drop_rate=0.05, server_error_rate=0.05, codes={20000: 0.05}, seed=7)
    config = ImRestConfig(
        users=users,
        behaviour=RecipientBehaviour.fast(),
        faults=faults,
        budget_window_seconds=WINDOW_SECONDS,
    )
    with ImRestSimulator(config) as sim:
        monkeypatch.setenv(TOKEN_VARIABLE, sim.admin_token)
        with clean_db.session() as session:
            bot = bots.add_bot(
                session,
                settings,
                name="im",
                provider="imrest",
                credentials=f"env:{TOKEN_VARIABLE}",
                quota_per_minute=REQUESTS_PER_WINDOW,
                options={
                    "base_url": sim.base_url,
                    "app_id": sim.app_id,
                    "from_user_id": sim.sender_id,
                    "timeout": 2.0,
                },
            )
            session.execute(
                insert(Recipient), [{"bot_id": bot.id, "user_id": str(u)} for u in sim.user_ids]
            )
            announcement = service.create_announcement(
                session,
                bot_id=bot.id,
                provider=bots.provider_of(bot, settings),
                category="PLAIN_TEXT",
                content="Maintenance tonight 22:00-23:00 UTC",
            )
        assert settings.database_url and settings.redis_url
        env = stack_env(
            database_url=settings.database_url,
            redis_url=settings.redis_url,
            keystore=None,
            api_url="http://127.0.0.1:9",  # no Mixin bot here
            blaze_url="ws://127.0.0.1:9",
            home=tmp_path / "home",
            extra={
                TOKEN_VARIABLE: sim.admin_token,
                "BLAZECAST_QUOTA_WINDOW_SECONDS": str(WINDOW_SECONDS),
                "BLAZECAST_LOG_LEVEL": "INFO",
            },
        )
        with ProcessGroup(env, tmp_path / "logs") as group:
            group.start_stack(send_workers=1)
            stack = Stack(sim=None, group=group, database=clean_db)  # type: ignore[arg-type]
            done = stack.wait_completed(announcement.id, timeout=240)
        stats = sim.stats()
    injected = stats["faults_injected"]
    assert injected.get("drop", 0) > 0 and injected.get("server_error", 0) > 0
    assert stats["per_user"]["copies"] == {"1": users}, stats["per_user"]
    # Every dropped reply's retry reached the server and was deduplicated, not executed again.
    assert stats["dedup"]["hits"] >= injected["drop"]
    assert (done.total, done.sent, done.failed, done.unknown) == (users, users, 0, 0)
    assert done.sent == stats["per_user"]["users"]
    assert stats["requests_window"]["largest"] <= REQUESTS_PER_WINDOW, stats["requests_window"]
    assert stats["rate_limited_429"] == 0
    # One request per batch of 100, whatever the budget's unit.
    assert stats["largest_targets"] == 100
