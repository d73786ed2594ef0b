"""Invariants under faults, through real processes: every reachable recipient is served exactly once.

Each test runs a broadcast against the simulator with real workers, beat and listener, breaks
something mid-broadcast, and checks what users saw (the simulator's count of visible messages, which
never counts a re-sent id twice) and what blazecast recorded (counters equal to a recount).
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
import redis

from models import AnnouncementStatus
from simulator import SimConfig
from simulator.config import UserBehaviour
from tests.e2e.stack import Stack, running_stack
from tests.factories import add_announcement
from worker.broadcast import state
from worker.config import Settings
from worker.db import Database

pytestmark = pytest.mark.e2e

# Short leases, timeouts and backoff so that recovery happens within seconds.
FAST_RECOVERY = {
    "BLAZECAST_LEASE_SECONDS": "4",
    "BLAZECAST_REQUEUE_AFTER_SECONDS": "6",
    "BLAZECAST_REQUEST_TIMEOUT": "2",
    "BLAZECAST_RETRY_BASE_SECONDS": "0.2",
    "BLAZECAST_RETRY_MAX_SECONDS": "2",
    "BLAZECAST_MAX_ATTEMPTS": "12",
}


def _sent_count(stack: Stack) -> int:
    return int(stack.sim.stats()["visible_messages"])


def _finish_and_check(stack: Stack, database: Database, announcement_id, reachable: int) -> None:  # type: ignore[no-untyped-def]
    done = stack.wait_completed(announcement_id, timeout=150)
    seen = stack.sim.stats()
    assert seen["visible_messages"] == reachable == done.sent
    assert done.failed == done.total - reachable
    incremental = (done.sent, done.failed, done.skipped)
    with database.session() as session:
        state.recount(session, announcement_id)
    recounted = stack.announcement(announcement_id)
    assert (recounted.sent, recounted.failed, recounted.skipped) == incremental


def test_sigkill_of_a_sending_worker_loses_and_duplicates_nothing(
    settings: Settings, clean_db: Database, redis_client: redis.Redis, tmp_path: Path
) -> None:
    config = SimConfig(users=6_000, seed=11, behaviour=UserBehaviour.fast())
    # A lower quota stretches the broadcast so that the kill lands mid-way.
    env = {**FAST_RECOVERY, "BLAZECAST_QUOTA_PER_MINUTE": "36000"}
    with running_stack(settings, clean_db, tmp_path, config, env=env, send_workers=2) as stack:
        announcement = stack.broadcast()
        stack.wait_for(lambda: _sent_count(stack) >= 1_000, timeout=60, what="sending to start")
        victim = next(c for c in stack.group.children if c.name == "worker-send-0")
        os.killpg(victim.process.pid, signal.SIGKILL)
        victim.process.wait(10)
        stack.group.children.remove(victim)
        assert _sent_count(stack) < 6_000, "the kill came too late to test anything"
        _finish_and_check(stack, clean_db, announcement.id, reachable=6_000)


def test_redis_flushed_mid_broadcast_is_recovered_from_postgres(
    settings: Settings, clean_db: Database, redis_client: redis.Redis, tmp_path: Path
) -> None:
    config = SimConfig(users=6_000, seed=12, behaviour=UserBehaviour.fast())
    env = {**FAST_RECOVERY, "BLAZECAST_QUOTA_PER_MINUTE": "36000"}
    with running_stack(settings, clean_db, tmp_path, config, env=env) as stack:
        announcement = stack.broadcast()
        stack.wait_for(lambda: _sent_count(stack) >= 1_000, timeout=60, what="sending to start")
        redis_client.flushdb()  # queues, bindings, token buckets: all gone
        assert _sent_count(stack) < 6_000, "the flush came too late to test anything"
        _finish_and_check(stack, clean_db, announcement.id, reachable=6_000)
        assert stack.sim.stats()["max_rolling_60s"] <= 36_000


def test_injected_errors_drops_and_a_429_storm(
    settings: Settings, clean_db: Database, redis_client: redis.Redis, tmp_path: Path
) -> None:
    config = SimConfig(users=5_000, seed=13, behaviour=UserBehaviour.fast())
    with running_stack(settings, clean_db, tmp_path, config, env=FAST_RECOVERY) as stack:
        faults = {"error_rate": {"500": 0.05, "7000": 0.02}, "drop_reply_rate": 0.05}
        stack.sim.set_faults(**faults, seed=13)
        announcement = stack.broadcast()
        stack.wait_for(lambda: _sent_count(stack) >= 1_000, timeout=60, what="sending to start")
        stack.sim.set_faults(**faults, storm={"code": 429, "seconds": 2}, seed=14)
        _finish_and_check(stack, clean_db, announcement.id, reachable=5_000)
        seen = stack.sim.stats()
    assert seen["errors_sent"], "no fault was injected"
    assert seen["rate_limited_429"] > 0
    assert seen["duplicate_message_ids"] > 0  # dropped replies were re-sent with the same ids


def test_blocked_users_fail_alone_and_become_unreachable(
    settings: Settings, clean_db: Database, redis_client: redis.Redis, tmp_path: Path
) -> None:
    config = SimConfig(users=3_000, seed=15, behaviour=UserBehaviour.fast(blocked_fraction=0.01))
    with running_stack(settings, clean_db, tmp_path, config, env=FAST_RECOVERY) as stack:
        announcement = stack.broadcast()
        done = stack.wait_completed(announcement.id)
        seen = stack.sim.stats()
    assert 0 < done.failed < 100
    assert seen["visible_messages"] == done.sent == 3_000 - done.failed
    from sqlalchemy import func, select

    from models import Recipient, RecipientStatus

    with clean_db.session() as session:
        unreachable = session.execute(
            select(func.count()).where(Recipient.status == RecipientStatus.UNREACHABLE)
        ).scalar_one()
    assert unreachable == done.failed


def test_pause_resume_cancel_and_recall_across_processes(
    settings: Settings, clean_db: Database, redis_client: redis.Redis, tmp_path: Path
) -> None:
    from worker.broadcast import service

    config = SimConfig(users=4_000, seed=16, behaviour=UserBehaviour.fast())
    env = {**FAST_RECOVERY, "BLAZECAST_QUOTA_PER_MINUTE": "24000"}
    with running_stack(settings, clean_db, tmp_path, config, env=env) as stack:
        announcement = stack.broadcast()
        stack.wait_for(lambda: _sent_count(stack) >= 500, timeout=60, what="sending to start")
        with clean_db.session() as session:
            service.pause(session, announcement.id)
        paused_at = time.monotonic()
        time.sleep(1.0)  # in-flight batches finish within the second
        frozen = _sent_count(stack)
        time.sleep(2.0)
        assert _sent_count(stack) == frozen, "messages went out while paused"
        assert frozen < 4_000
        with clean_db.session() as session:
            service.resume(session, announcement.id)
        _finish_and_check(stack, clean_db, announcement.id, reachable=4_000)
        assert stack.sim.stats()["duplicate_message_ids"] == 0  # resume never re-sent
        assert time.monotonic() - paused_at > 3

        # Recall: a MESSAGE_RECALL for every message the provider accepted, same pipeline.
        with clean_db.session() as session:
            recall = service.recall(session, announcement.id)
        stack.wait_completed(recall.id)
        assert stack.sim.stats()["recalls"] == 4_000

        # Cancel: a second announcement stops for good.
        with clean_db.session() as session:
            second = add_announcement(session, "Second notice")
        stack.wait_for(
            lambda: stack.announcement(second.id).sent >= 300,
            timeout=60,
            what="the second announcement to start",
        )
        with clean_db.session() as session:
            service.cancel(session, second.id)
        time.sleep(1.5)
        cancelled = stack.announcement(second.id)
        assert cancelled.status is AnnouncementStatus.CANCELLED
        assert cancelled.sent + cancelled.skipped == 4_000
        assert cancelled.sent < 4_000
