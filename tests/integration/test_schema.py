"""Migrations: upgrade head on an empty database, idempotently, with no drift from the models;
the data migrations (0004, 0006) carry existing rows."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import psycopg2
import pytest
import sqlalchemy as sa
from alembic.util.exc import CommandError

from worker import migrate
from worker.broadcast.planner import message_id_sql
from worker.db import Urls
from worker.messaging.mixin.ids import message_id_for


@pytest.fixture
def empty_database(engine_urls: Urls) -> Iterator[str]:
    parts = urlsplit(engine_urls.database)
    admin = urlunsplit(parts._replace(path="/postgres"))
    name = "blazecast_empty_check"

    def run(statement: str) -> None:
        with contextlib.closing(psycopg2.connect(admin)) as conn:
            conn.autocommit = True
            with conn.cursor() as cursor:
                cursor.execute(statement)

    run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    run(f'CREATE DATABASE "{name}"')
    yield urlunsplit(parts._replace(path=f"/{name}"))
    run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_upgrade_head_on_empty_database_has_no_drift(empty_database: str) -> None:
    assert migrate.current(empty_database) is None
    migrate.upgrade(empty_database)
    head = migrate.current(empty_database)
    assert head is not None
    migrate.upgrade(empty_database)  # idempotent
    assert migrate.current(empty_database) == head
    migrate.check(empty_database)  # raises on drift


def test_check_detects_drift(empty_database: str) -> None:
    migrate.upgrade(empty_database)
    with contextlib.closing(psycopg2.connect(empty_database)) as conn, conn.cursor() as cursor:
        cursor.execute("ALTER TABLE recipients DROP COLUMN time_zone")
        conn.commit()
    with pytest.raises(CommandError, match="New upgrade operations detected"):
        migrate.check(empty_database)


def test_0004_carries_a_single_bot_deployment_to_the_default_bot(empty_database: str) -> None:
    migrate.upgrade(empty_database, "0003")
    halted_bot = "8a7e1f2c-0d3b-4c5a-9e6f-1a2b3c4d5e6f"
    with contextlib.closing(psycopg2.connect(empty_database)) as conn, conn.cursor() as cursor:
        cursor.execute(
            "INSERT INTO recipients (user_id) SELECT gen_random_uuid() FROM generate_series(1, 50)"
        )
        cursor.execute(
            "INSERT INTO announcements (id, category, content, audience_kind) "
            "VALUES (gen_random_uuid(), 'PLAIN_TEXT', '\"hi\"', 'all')"
        )
        cursor.execute(
            "INSERT INTO bots (id, halted_reason, halted_at) VALUES (%s, 'clock skew', now())",
            (halted_bot,),
        )
        conn.commit()
    migrate.upgrade(empty_database)
    migrate.check(empty_database)
    with contextlib.closing(psycopg2.connect(empty_database)) as conn, conn.cursor() as cursor:
        cursor.execute(
            "SELECT id, name, provider, credentials, account_id, halted_reason FROM bots"
        )
        bots = cursor.fetchall()
        assert len(bots) == 1
        bot_id, name, provider, credentials, account, reason = bots[0]
        assert (name, provider, credentials) == ("default", "mixin", None)
        assert (account, reason) == (halted_bot, "clock skew")
        cursor.execute(
            "SELECT count(*), count(*) FILTER (WHERE bot_id = %s) FROM recipients", (bot_id,)
        )
        assert cursor.fetchone() == (50, 50)
        cursor.execute("SELECT count(*) FILTER (WHERE bot_id = %s) FROM announcements", (bot_id,))
        assert cursor.fetchone() == (1,)


def test_0004_on_an_empty_deployment_creates_no_bot(empty_database: str) -> None:
    migrate.upgrade(empty_database)
    with contextlib.closing(psycopg2.connect(empty_database)) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM bots")
        assert cursor.fetchone() == (0,)


def test_0006_keeps_each_recipients_id_text_and_message_ids(empty_database: str) -> None:
    """A 0005 deployment's recipients carry to the text column unchanged: ``uuid::text`` is the
    canonical form, so the message ids computed from it in SQL (the planner's) stay the same."""
    migrate.upgrade(empty_database, "0005")
    announcement = uuid.uuid4()
    recipients = sa.table("recipients", sa.column("id"), sa.column("user_id"))
    message_ids = sa.select(
        recipients.c.id,
        sa.cast(recipients.c.user_id, sa.Text),
        message_id_sql(announcement, recipients.c.user_id),
    ).order_by(recipients.c.id)
    engine = sa.create_engine(empty_database.replace("postgresql://", "postgresql+psycopg2://", 1))
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("INSERT INTO bots (name, provider) VALUES ('default', 'mixin')"))
            conn.execute(
                sa.text(
                    "INSERT INTO recipients (bot_id, user_id) "
                    "SELECT (SELECT id FROM bots), gen_random_uuid() FROM generate_series(1, 50)"
                )
            )
            # Given in upper case: a uuid column keeps no case, and neither may the text.
            upper = uuid.uuid4()
            conn.execute(
                sa.text(
                    "INSERT INTO recipients (bot_id, user_id) "
                    "VALUES ((SELECT id FROM bots), CAST(:user AS uuid))"
                ),
                {"user": str(upper).upper()},
            )
            before = conn.execute(message_ids).all()
        migrate.upgrade(empty_database)
        migrate.check(empty_database)
        with engine.begin() as conn:
            after = conn.execute(message_ids).all()
            kind = conn.execute(
                sa.text(
                    "SELECT data_type FROM information_schema.columns "
                    "WHERE table_name = 'recipients' AND column_name = 'user_id'"
                )
            ).scalar_one()
    finally:
        engine.dispose()
    assert kind == "character varying"
    assert len(after) == 51 and after == before
    assert str(upper) in {user for _, user, _ in after}
    # And they are the ids the wire-level derivation gives for the same pair.
    assert all(str(m) == message_id_for(announcement, user) for _, user, m in after)
