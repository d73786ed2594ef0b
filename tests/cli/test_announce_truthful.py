"""The announce commands say what happened, and warn about what will not happen: a reschedule
moves the time, a past time or a stack with nothing running is pointed out, a script is told how
to confirm, and counts read right."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import redis
from sqlalchemy import select

from models import Announcement
from tests.cli.conftest import Cli
from tests.factories import add_recipients
from worker.db import Database
from worker.liveness import TICK_KEY, WORKERS_KEY, record_heartbeat, record_tick
from worker.queues import ALL_QUEUES


def _scheduled_at(database: Database, announcement_id: str) -> datetime | None:
    with database.session() as session:
        return session.execute(
            select(Announcement.scheduled_at).where(Announcement.id == announcement_id)
        ).scalar_one()


def _everything_runs(client: redis.Redis) -> None:
    record_tick(client)
    record_heartbeat(client, "all@host", list(ALL_QUEUES))


def test_rescheduling_a_scheduled_announcement_moves_its_time(
    cli: Cli, clean_db: Database, redis_client: redis.Redis
) -> None:
    _everything_runs(redis_client)
    created = json.loads(
        cli.ok("announce", "create", "--text", "Later", "--at", "2031-07-01 08:30", "--json")
    )
    outcome = cli.run("announce", "schedule", created["id"][:8], "--at", "2031-07-02 09:00")
    assert outcome.exit_code == 0, outcome.stderr
    assert outcome.stdout.strip() == (
        f"announcement {created['id']} scheduled for 2031-07-02 09:00:00 UTC"
    )
    assert outcome.stderr == ""
    assert _scheduled_at(clean_db, created["id"]) == datetime(2031, 7, 2, 9, 0, tzinfo=UTC)


def test_a_time_in_the_past_is_pointed_out(
    cli: Cli, clean_db: Database, redis_client: redis.Redis
) -> None:
    _everything_runs(redis_client)
    created = cli.run("announce", "create", "--text", "Oops", "--at", "2020-01-01 09:00")
    assert created.exit_code == 0
    assert created.stderr == "note: 2020-01-01 09:00 UTC is in the past: it is due now\n"


def test_with_no_beat_and_no_worker_create_and_status_warn(
    cli: Cli, clean_db: Database, redis_client: redis.Redis
) -> None:
    redis_client.delete(TICK_KEY, WORKERS_KEY)
    created = cli.run("announce", "create", "--text", "Hello now")
    assert created.exit_code == 0
    warnings = created.stderr.splitlines()
    assert warnings[0].startswith("warning: no beat tick recently (last: never)")
    assert warnings[1].startswith("warning: no worker heard from on blazecast.send")
    announcement_id = created.stdout.split()[2]
    status = cli.run("announce", "status", announcement_id)
    assert "warning: no beat tick recently" in status.stderr


def test_a_draft_says_so_once(cli: Cli, clean_db: Database) -> None:
    created = cli.ok("announce", "create", "--text", "Later", "--draft")
    assert created.endswith("(a draft: `announce schedule` sends it)\n"), created
    assert "as a draft" not in created


def test_cancel_in_a_script_says_to_add_yes(cli: Cli, clean_db: Database) -> None:
    created = json.loads(cli.ok("announce", "create", "--text", "Hi", "--draft", "--json"))
    assert cli.fails("announce", "cancel", created["id"]) == (
        "error: not at a terminal to confirm: add --yes to do it without asking "
        "(see 'blazecast announce cancel --help')"
    )


def test_a_short_prefix_asks_for_four_characters(cli: Cli, clean_db: Database) -> None:
    created = json.loads(cli.ok("announce", "create", "--text", "Hi", "--draft", "--json"))
    assert cli.fails("announce", "show", created["id"][:3]) == (
        f"error: '{created['id'][:3]}': give at least 4 characters of the announcement id"
    )


def test_counts_agree_with_their_nouns(
    cli: Cli, clean_db: Database, redis_client: redis.Redis
) -> None:
    _everything_runs(redis_client)
    with clean_db.session() as session:
        (user,) = add_recipients(session, 1)
    dry = cli.ok("announce", "create", "--text", "Hi", "--dry-run")
    assert "audience      1 recipient " in dry
    test = cli.ok("announce", "create", "--text", "Hi", "--test-to", user)
    assert "is scheduled now for 1 user;" in test
