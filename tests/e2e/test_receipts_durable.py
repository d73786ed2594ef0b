"""No receipt is lost when the process applying them is SIGKILLed (issue 16), through real processes.

The provider pushes each DELIVERED and READ receipt once and never again. Here the control/receipts
worker is SIGKILLed while its transaction is in the middle of applying a buffer of receipts (held
there by a lock the test takes on every delivery row); every receipt of that buffer must be
recorded afterwards, within seconds rather than after the broker's one-minute visibility timeout.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
import redis
from sqlalchemy import text

from simulator import SimConfig
from simulator.config import UserBehaviour
from tests.e2e.stack import running_stack
from worker.config import Settings
from worker.db import Database

pytestmark = pytest.mark.e2e
USERS = 2_000


def _receipts_waiting_on_the_lock(database: Database) -> int:
    """Transactions applying receipts (the set-based UPDATE over ``unnest``) blocked by our lock."""
    with database.engine.connect() as connection:
        return int(
            connection.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                    " AND query LIKE '%unnest(%'"
                )
            ).scalar_one()
        )


def test_receipts_being_applied_by_a_sigkilled_worker_are_all_recorded(
    settings: Settings, clean_db: Database, redis_client: redis.Redis, tmp_path: Path
) -> None:
    # Every message is sent before its receipts come (8 s later), so the lock below holds up
    # the receipts only, not the sending.
    behaviour = UserBehaviour.fast(
        delivery_median=8.0, delivery_sigma=0.02, delivery_max=8.5, read_median=0.2, read_max=0.3
    )
    config = SimConfig(users=USERS, seed=31, behaviour=behaviour)
    with running_stack(settings, clean_db, tmp_path, config) as stack:
        announcement = stack.broadcast()
        stack.wait_completed(announcement.id, timeout=60)
        assert stack.sim.stats()["messages_delivered"] == 0, "receipts came before the lock"
        with clean_db.engine.connect() as blocker:
            transaction = blocker.begin()
            blocker.execute(text("SELECT id FROM deliveries FOR UPDATE"))
            # Every receipt pushed, and the receipts worker in the middle of applying them.
            stack.wait_for(
                lambda: stack.sim.stats()["messages_read"] == USERS,
                timeout=30,
                what="the simulator to push every receipt",
            )
            stack.wait_for(
                lambda: _receipts_waiting_on_the_lock(clean_db) > 0,
                timeout=30,
                what="the receipts worker to be applying a buffer",
            )
            victim = next(c for c in stack.group.children if c.name == "worker-control")
            os.killpg(victim.process.pid, signal.SIGKILL)
            victim.process.wait(10)
            stack.group.children.remove(victim)
            stack.group.start("worker-control", *[str(a) for a in victim.process.args[3:]])  # type: ignore[index]
            transaction.rollback()
        stack.wait_for(
            lambda: (
                (lambda a: (a.delivered, a.read))(stack.announcement(announcement.id))
                == (USERS, USERS)
            ),
            timeout=30,
            what=f"every receipt to be recorded: {stack.announcement(announcement.id).__dict__}",
        )
