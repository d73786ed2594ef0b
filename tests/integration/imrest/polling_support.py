"""An IM REST bot against the simulator, its audience, one announcement sent through the real
pipeline in-process, and the poller driven until its schedule is over (real Postgres, Redis and
HTTP on loopback)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import func, select

from bench.harness.imrest_polls import (
    add_imrest_audience,
    poll_until_done,
    polling_of,
    polls_left,
)
from models import Announcement, Delivery
from simulator.imrest import ImRestSimulator
from worker.bots import add_bot, provider_of
from worker.broadcast import pipeline, polls, service
from worker.broadcast.pipeline import InlineBroker
from worker.config import Settings
from worker.runtime import Runtime

TOKEN_VARIABLE = "BLAZECAST_TEST_IMREST_TOKEN"


def imrest_bot(
    runtime: Runtime,
    sim: ImRestSimulator,
    monkeypatch: pytest.MonkeyPatch,
    *,
    quota_per_minute: int,
    name: str = "imrest",
    **options: Any,
) -> int:
    """An IM REST bot sending as the simulator's account, its token in an environment variable."""
    monkeypatch.setenv(TOKEN_VARIABLE, sim.admin_token)
    values = {"base_url": sim.base_url, "app_id": sim.app_id, "from_user_id": sim.sender_id}
    values.update(options)
    with runtime.db.session() as session:
        bot = add_bot(
            session,
            runtime.settings,
            name=name,
            credentials=f"env:{TOKEN_VARIABLE}",
            provider="imrest",
            quota_per_minute=quota_per_minute,
            options=values,
        )
        return bot.id


def announce(
    runtime: Runtime,
    bot_id: int,
    text: str = "Maintenance tonight",
    *,
    fixed_id: uuid.UUID | None = None,
    audience: service.Audience | None = None,
) -> uuid.UUID:
    """Create (and schedule) an announcement; ``fixed_id`` fixes its id, the sample's seed."""
    from models import Bot

    with runtime.db.session() as session:
        provider = provider_of(session.get_one(Bot, bot_id), runtime.settings)
        with pytest.MonkeyPatch.context() as patch:
            if fixed_id is not None:
                patch.setattr(service.uuid, "uuid4", lambda: fixed_id)
            announcement = service.create_announcement(
                session,
                bot_id=bot_id,
                provider=provider,
                category="PLAIN_TEXT",
                content=text,
                audience=audience,
            )
        session.flush()
        return announcement.id


def send_all(runtime: Runtime) -> None:
    """Plan and send every due announcement in this process (the pipeline's own steps)."""
    pipeline.run_until_idle(runtime.db, InlineBroker(), runtime.pipeline_config, runtime.sender)


def counters(runtime: Runtime, announcement_id: uuid.UUID) -> Announcement:
    with runtime.db.session() as session:
        announcement = session.get_one(Announcement, announcement_id)
        session.expunge(announcement)
        return announcement


def delivery_states(runtime: Runtime, announcement_id: uuid.UUID) -> dict[str, int]:
    with runtime.db.session() as session:
        rows = session.execute(
            select(Delivery.state, func.count())
            .where(Delivery.announcement_id == announcement_id)
            .group_by(Delivery.state)
        ).all()
    return {str(state): count for state, count in rows}


def make_runtime(settings: Settings) -> Runtime:
    return Runtime(settings)


__all__ = ["add_imrest_audience", "poll_until_done", "polling_of", "polls", "polls_left"]
