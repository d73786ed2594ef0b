"""``blazecast doctor`` says what would keep an announcement from going out, and what to run."""

from __future__ import annotations

from pathlib import Path

import redis

from simulator.identity import BotIdentity
from tests.cli.conftest import Cli
from worker.liveness import TICK_KEY, WORKERS_KEY, record_heartbeat, record_tick
from worker.queues import ALL_QUEUES, SEND_QUEUE


def test_with_nothing_running_doctor_names_the_missing_beat_and_worker(
    cli: Cli, redis_client: redis.Redis
) -> None:
    redis_client.delete(TICK_KEY, WORKERS_KEY)
    outcome = cli.run("doctor")
    assert outcome.exit_code == 1, outcome.stdout
    out = outcome.stdout
    assert "ok       database" in out and "ok       redis" in out
    assert "BLAZECAST_KEYSTORE: not set" in out
    assert "no beat tick recently (last: never)" in out and "run `blazecast beat`" in out
    assert f"no worker heard from on {SEND_QUEUE} in the last 10 s: nothing will be sent" in out
    assert "announcements may not be sent" in out


def test_doctor_is_content_once_beat_and_workers_run(
    cli: Cli, redis_client: redis.Redis, tmp_path: Path
) -> None:
    cli.env["BLAZECAST_KEYSTORE"] = str(BotIdentity.derive(3, 0).write_keystore(tmp_path / "k"))
    record_tick(redis_client)
    record_heartbeat(redis_client, "send@host", [SEND_QUEUE])
    record_heartbeat(redis_client, "control@host", [q for q in ALL_QUEUES if q != SEND_QUEUE])
    outcome = cli.run("doctor")
    assert outcome.exit_code == 0, outcome.stdout
    assert f"ok       {SEND_QUEUE:<20} 1 worker(s): send@host" in outcome.stdout
    assert "everything needed to send is in place" in outcome.stdout
