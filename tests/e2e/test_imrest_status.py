"""IM REST statuses through real processes: the send worker sends to the IM REST simulator, beat's
poll tick and the receipts worker's ``poll_statuses`` read DELIVERED and READ back, and the
counters end equal to the simulator's truth."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis
from sqlalchemy import func, insert, select

from models import Bot, Recipient, RecipientStatus, StatusPoll
from simulator import SimConfig
from simulator.config import UserBehaviour
from simulator.imrest import ImRestConfig, ImRestSimulator, RecipientBehaviour
from tests.e2e.stack import running_stack
from worker import bots
from worker.broadcast import service
from worker.config import Settings
from worker.db import Database

pytestmark = pytest.mark.e2e


def test_the_stack_polls_imrest_statuses_until_they_match_the_simulator(
    settings: Settings, clean_db: Database, redis_client: redis.Redis, tmp_path: Path
) -> None:
    users = 400
    behaviour = RecipientBehaviour(
        delivery_delay=0.2, read_delay=0.5, delivery_probability=0.9, read_probability=0.5
    )
    imrest = ImRestConfig(users=users, seed=7, behaviour=behaviour, groups=0, foreign_groups=0)
    mixin = SimConfig(users=10, seed=1, behaviour=UserBehaviour.fast())
    with (
        ImRestSimulator(imrest) as im,
        running_stack(settings, clean_db, tmp_path, mixin) as stack,
    ):
        token = tmp_path / "im.token"
        token.write_text(im.admin_token)  # the workers read it by reference
        with clean_db.session() as session:
            bot = bots.add_bot(
                session,
                settings,
                name="im",
                credentials=f"file:{token}",
                provider="imrest",
                quota_per_minute=60_000,
                options={
                    "base_url": im.base_url,
                    "app_id": im.app_id,
                    "from_user_id": im.sender_id,
                    "poll_delays": "1,2,4",
                },
            )
            session.execute(
                insert(Recipient),
                [
                    {"bot_id": bot.id, "user_id": str(u), "status": RecipientStatus.ACTIVE}
                    for u in im.user_ids
                ],
            )
            announcement = service.create_announcement(
                session,
                bot_id=bot.id,
                provider=bots.provider_of(session.get_one(Bot, bot.id), settings),
                category="PLAIN_TEXT",
                content="from the IM REST bot",
            )
            session.flush()
            announcement_id = announcement.id
        stack.wait_completed(announcement_id, timeout=90)

        def polls_over() -> bool:
            with clean_db.session() as session:
                left = session.execute(
                    select(func.count()).where(
                        StatusPoll.announcement_id == announcement_id,
                        StatusPoll.next_poll_at.is_not(None) | StatusPoll.status.is_(None),
                    )
                ).scalar_one()
                made = session.execute(select(func.count()).select_from(StatusPoll)).scalar_one()
            return made == users and left == 0

        stack.wait_for(polls_over, timeout=60, what="the status polls to end")
        truth = im.stats()["status_truth"]
        done = stack.announcement(announcement_id)
    assert truth["now"] == truth["eventual"]
    read = truth["eventual"]["READ"]
    assert 0 < read < done.sent == users
    assert (done.delivered, done.read) == (read + truth["eventual"]["DELIVERED"], read)
