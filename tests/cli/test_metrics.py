"""The Prometheus exporter: what ``blazecast metrics show|serve`` report from Postgres and Redis,
and the count of provider errors kept by sending workers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import urllib.request
from datetime import timedelta
from pathlib import Path

import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, update

from models import AnnouncementStatus, Batch, BatchState, Bot, BotProvider
from simulator import FaultPlan, SimConfig
from simulator.config import UserBehaviour
from simulator.identity import BotIdentity
from tests.cli.conftest import Cli
from tests.e2e.stack import running_stack
from tests.environment import engine_env
from tests.factories import add_announcement, add_recipients, default_bot_id
from tests.integration.broadcast.pipeline import start_and_plan
from worker.config import Settings
from worker.db import Database
from worker.liveness import TICK_KEY, record_tick
from worker.messaging.errors import RateLimited, ServerError
from worker.messaging.fake import FakeTransport
from worker.messaging.transport import OutgoingMessage
from worker.metrics import COUNTERS_KEY, CountingTransport, count_outcome
from worker.queues import SEND_QUEUE
from worker.ratelimit import TokenBuckets, quota_spec
from worker.runtime import Runtime


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


@pytest.fixture
def keystore(tmp_path: Path) -> tuple[Path, str]:
    identity = BotIdentity.derive(3, 0)
    return identity.write_keystore(tmp_path / "bot.json"), identity.bot_id


def test_show_reports_progress_batches_queues_bucket_and_errors(
    cli: Cli, clean_db: Database, redis_client: redis.Redis, keystore: tuple[Path, str]
) -> None:
    path, _ = keystore
    with clean_db.session() as session:
        add_recipients(session, 250)
        announcement = add_announcement(session, "Watched", title="Watched")
        bot_id = str(default_bot_id(session))
    start_and_plan(clean_db, announcement.id)
    with clean_db.session() as session:
        session.execute(
            update(Batch).where(Batch.seq == 0).values(state=BatchState.RETRY, attempts=3)
        )
    redis_client.rpush(SEND_QUEUE, "a", "b", "c")
    redis_client.rpush(SEND_QUEUE + "\x06\x169", "urgent")
    redis_client.hincrby(COUNTERS_KEY, "rate_limited", 4)
    redis_client.hincrby(COUNTERS_KEY, "server_error", 1)
    for outcome in ("done", "done", "retry", "throttled"):
        count_outcome(redis_client, outcome)
    with clean_db.session() as session:
        session.execute(
            update(Batch)
            .where(Batch.seq == 1)
            .values(state=BatchState.QUEUED, enqueued_at=func.now() - timedelta(seconds=90))
        )
    with clean_db.session() as session:
        paused = add_announcement(session, "Too many failures")
        paused.status = AnnouncementStatus.PAUSED
        paused.status_reason = "auto-paused: 300 of 1000 messages failed (threshold 20%)"
    redis_client.delete(TICK_KEY)
    # A fresh bucket starts drained; at 1,000 a minute it takes 6 s to hold a batch again.
    TokenBuckets(redis_client).try_take([quota_spec(bot_id, 1_000)], 100)
    cli.env["BLAZECAST_KEYSTORE"] = str(path)
    cli.env["BLAZECAST_QUOTA_PER_MINUTE"] = "1000"

    found = _samples(cli.ok("metrics", "show"))

    labels = (
        ("announcement", str(announcement.id)),
        ("bot", "default"),
        ("outcome", "total"),
        ("status", "sending"),
        ("title", "Watched"),
    )
    assert found[("blazecast_announcement_messages", labels)] == 250
    bot = (("bot", "default"),)
    assert found[("blazecast_batches", (("state", "retry"),))] == 1
    assert found[("blazecast_batches", (("state", "pending"),))] == 1
    assert found[("blazecast_batches", (("state", "queued"),))] == 1
    assert 90 <= found[("blazecast_oldest_queued_batch_age_seconds", ())] < 120
    assert found[("blazecast_announcements_auto_paused", ())] == 1
    assert found[("blazecast_batch_outcomes_total", (("outcome", "done"),))] == 2
    assert found[("blazecast_batch_outcomes_total", (("outcome", "retry"),))] == 1
    assert found[("blazecast_last_tick_age_seconds", ())] == float("inf")  # no beat ran
    assert found[("blazecast_live_workers", (("queue", SEND_QUEUE),))] == 0
    assert found[("blazecast_batch_retries_total", ())] == 2
    assert found[("blazecast_queue_depth", (("queue", SEND_QUEUE),))] == 4
    assert found[("blazecast_rate_limited_total", ())] == 4
    assert found[("blazecast_provider_errors_total", (("kind", "server_error"),))] == 1
    assert 0 <= found[("blazecast_quota_tokens", bot)] < 100
    # Burst 11 at 1,000 a minute: a send unit of 10 plus 60 ms of rate.
    assert found[("blazecast_quota_rate_per_second", bot)] == pytest.approx((1000 - 11) / 60.5)
    assert found[("blazecast_quota_rate_factor", bot)] == 1.0
    assert 0 < found[("blazecast_quota_wait_seconds", bot)] <= 100 / ((1000 - 11) / 60.5)
    assert found[("blazecast_bot_halted", bot)] == 0
    assert found[("blazecast_exporter_source_up", (("source", "postgres"),))] == 1
    assert found[("blazecast_exporter_source_up", (("source", "redis"),))] == 1


def test_a_429_shows_in_its_bots_bucket_rate_factor(
    cli: Cli, clean_db: Database, redis_client: redis.Redis
) -> None:
    with clean_db.session() as session:
        penalised = default_bot_id(session)
        other = Bot(name="other", provider=BotProvider.MIXIN, credentials="env:OTHER_KEY")
        session.add(other)
    TokenBuckets(redis_client).penalize(quota_spec(str(penalised), 100_000))
    # No keystore is needed: the buckets are the bots', read from Redis.
    found = _samples(cli.ok("metrics", "show"))
    assert 0.49 < found[("blazecast_quota_rate_factor", (("bot", "default"),))] < 0.6
    assert found[("blazecast_quota_rate_factor", (("bot", "other"),))] == 1.0


def test_sending_workers_count_provider_errors_by_kind(redis_client: redis.Redis) -> None:
    fake = FakeTransport()
    counting = CountingTransport(fake, redis_client)
    message = OutgoingMessage("c", "r", "00000000-0000-4000-8000-000000000001", "PLAIN_TEXT", "aGk")
    fake.fail_next(RateLimited("Too Many Requests.", code=429), times=2)
    fake.fail_next(ServerError("Internal Server Error.", code=500))
    for _ in range(3):
        with pytest.raises((RateLimited, ServerError)):
            counting.send_messages([message])
    counting.send_messages([message])

    assert redis_client.hgetall(COUNTERS_KEY) == {b"rate_limited": b"2", b"server_error": b"1"}
    assert len(fake.batches) == 1


def test_a_worker_runtime_sends_through_the_counting_transport(
    settings: Settings, clean_db: Database, tmp_path: Path
) -> None:
    from simulator import SimConfig, Simulator

    keystore = Simulator(SimConfig(users=0)).write_keystore(tmp_path / "keystore.json")
    runtime = Runtime(settings.model_copy(update={"keystore": keystore}))
    with clean_db.session() as session:
        bot_id = default_bot_id(session)
    assert isinstance(runtime.bot(bot_id).transport, CountingTransport)
    assert runtime.sender.bots(bot_id) is runtime.bot(bot_id)
    runtime.close()


def test_serve_answers_prometheus_and_stops_on_sigterm(
    settings: Settings, clean_db: Database, tmp_path: Path
) -> None:
    env = {**os.environ, **engine_env(settings, tmp_path)}
    process = subprocess.Popen(
        [sys.executable, "-m", "worker.cli", "metrics", "serve", "--port", "0"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        url = line.split()[2]
        assert url.startswith("http://127.0.0.1:") and url.endswith("/metrics"), line
        with urllib.request.urlopen(url, timeout=10) as response:
            body = response.read().decode()
        assert "blazecast_queue_depth" in body and "blazecast_announcements" in body
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=20)
    assert process.returncode == 0, err
    assert "metrics server stopped" in out


@pytest.mark.e2e
def test_real_workers_count_every_429_the_provider_sent(
    cli: Cli, settings: Settings, clean_db: Database, redis_client: redis.Redis, tmp_path: Path
) -> None:

    config = SimConfig(
        users=2_000,
        behaviour=UserBehaviour.fast(),
        faults=FaultPlan(error_rate={429: 0.1, 500: 0.05}, seed=5),
    )
    env = {"BLAZECAST_RETRY_BASE_SECONDS": "0.2", "BLAZECAST_RETRY_MAX_SECONDS": "1"}
    with running_stack(settings, clean_db, tmp_path, config, env=env) as stack:
        announcement = stack.broadcast("Through a storm")
        stack.wait_completed(announcement.id)
        seen = stack.sim.stats()
        cli.env["BLAZECAST_KEYSTORE"] = str(stack.sim.keystore_path)
        found = _samples(cli.ok("metrics", "show"))

    assert seen["rate_limited_429"] > 0
    assert found[("blazecast_rate_limited_total", ())] == seen["rate_limited_429"]
    assert (
        found[("blazecast_provider_errors_total", (("kind", "server_error"),))]
        == (seen["errors_sent"]["500"])
    )
    assert found[("blazecast_batch_retries_total", ())] >= seen["rate_limited_429"]
    # Every retry after a provider error is counted as such, and the workers and beat were alive.
    assert found[("blazecast_batch_outcomes_total", (("outcome", "retry"),))] >= 1
    assert found[("blazecast_live_workers", (("queue", SEND_QUEUE),))] >= 1
    assert found[("blazecast_last_tick_age_seconds", ())] < 15


def test_the_tick_age_counts_from_the_last_tick(cli: Cli, redis_client: redis.Redis) -> None:
    record_tick(redis_client)
    found = _samples(cli.ok("metrics", "show"))
    assert 0 <= found[("blazecast_last_tick_age_seconds", ())] < 5
