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
from alembic import command
from alembic.util.exc import CommandError

from worker import migrate
from worker.broadcast import reasons as delivery_reasons
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


def test_0008_carries_every_delivery_into_its_announcements_partition(
    empty_database: str,
) -> None:
    migrate.upgrade(empty_database, "0007")
    snapshot = "SELECT * FROM deliveries ORDER BY id"
    with contextlib.closing(psycopg2.connect(empty_database)) as conn, conn.cursor() as cursor:
        cursor.execute("INSERT INTO bots (name, provider) VALUES ('b', 'mixin') RETURNING id")
        (bot_id,) = cursor.fetchone() or (None,)
        cursor.execute(
            "INSERT INTO recipients (bot_id, user_id) "
            "SELECT %s, gen_random_uuid()::text FROM generate_series(1, 40)",
            (bot_id,),
        )
        cursor.execute(
            "INSERT INTO announcements (id, bot_id, category, content, audience_kind) "
            "SELECT gen_random_uuid(), %s, 'PLAIN_TEXT', '\"hi\"', 'all' "
            "FROM generate_series(1, 3)",
            (bot_id,),
        )
        # Each announcement to a different slice of recipients, in every state.
        cursor.execute(
            "INSERT INTO deliveries (announcement_id, recipient_id, message_id, state, "
            "attempts, last_error, sent_at) "
            "SELECT a.id, r.id, gen_random_uuid(), "
            "(ARRAY['pending','sent','delivered','read','failed','skipped','unknown'])[1 + r.id % 7]"
            "::delivery_state, r.id % 3, CASE WHEN r.id % 6 = 4 THEN 'boom' END, "
            "CASE WHEN r.id % 6 BETWEEN 1 AND 3 THEN now() END "
            "FROM (SELECT id, row_number() OVER (ORDER BY id) AS n FROM announcements) a "
            "JOIN recipients r ON r.id % 3 = a.n - 1 OR a.n = 1"
        )
        conn.commit()
        cursor.execute(snapshot)
        before = cursor.fetchall()
    assert len(before) > 40
    migrate.upgrade(empty_database, "0008")
    with contextlib.closing(psycopg2.connect(empty_database)) as conn, conn.cursor() as cursor:
        cursor.execute(
            "SELECT id, announcement_id, recipient_id, message_id, batch_id, state, attempts, "
            "last_error, sent_at, delivered_at, read_at, failed_at FROM deliveries ORDER BY id"
        )
        after = cursor.fetchall()
        cursor.execute("SELECT count(*) FROM pg_inherits WHERE inhparent = 'deliveries'::regclass")
        partitions = cursor.fetchone()
        # A duplicate message id in one announcement is refused by its partition's index.
        cursor.execute("SELECT announcement_id, recipient_id, message_id FROM deliveries LIMIT 1")
        announcement_id, recipient_id, message_id = cursor.fetchone() or (None, None, None)
        with pytest.raises(psycopg2.errors.UniqueViolation):
            cursor.execute(
                "INSERT INTO deliveries (announcement_id, recipient_id, message_id) "
                "VALUES (%s, %s, %s)",
                (announcement_id, recipient_id + 1000, message_id),
            )
        conn.rollback()
        cursor.execute(
            "INSERT INTO deliveries (announcement_id, recipient_id, message_id) "
            "VALUES (%s, 1000, gen_random_uuid()) RETURNING id",
            (announcement_id,),
        )
        (new_id,) = cursor.fetchone() or (None,)
    assert after == before
    assert partitions == (3,)
    assert new_id > max(row[0] for row in before)  # the id sequence carried on


def test_0009_keeps_every_deliverys_reason_text_stored_once(empty_database: str) -> None:
    migrate.upgrade(empty_database, "0007")
    # Shared reasons, an empty one, the longest, non-ASCII ones, and none; besides, below, one per
    # recipient (its details or its request id last, the part before shared).
    reasons = [
        "cancelled",
        "unsubscribed",
        "gave up after 5 attempts: mixin error 500: Internal Server Error [request 1]",
        "",
        "x" * 500,
        "Forbidden: 403 (details: «ünïcode» 💥)",
        None,
        "x" * 480 + " (details: cut at the bound)"[:20],
        "x" * 480 + " [request cut at the bound]"[:20],
        " [request 2]",
        "mixin error 500 [request 3] then retried",
        "Forbidden: 403 (details: line one\nline two) [request 4]\n",
    ]
    with contextlib.closing(psycopg2.connect(empty_database)) as conn, conn.cursor() as cursor:
        cursor.execute("INSERT INTO bots (name, provider) VALUES ('b', 'mixin') RETURNING id")
        (bot_id,) = cursor.fetchone() or (None,)
        cursor.execute(
            "INSERT INTO recipients (bot_id, user_id) "
            "SELECT %s, gen_random_uuid()::text FROM generate_series(1, 60)",
            (bot_id,),
        )
        cursor.execute(
            "INSERT INTO announcements (id, bot_id, category, content, audience_kind) "
            "SELECT gen_random_uuid(), %s, 'PLAIN_TEXT', '\"hi\"', 'all' "
            "FROM generate_series(1, 2)",
            (bot_id,),
        )
        cursor.execute(
            "INSERT INTO deliveries (announcement_id, recipient_id, message_id, state, "
            "attempts, last_error) "
            "SELECT a.id, r.id, gen_random_uuid(), "
            "(ARRAY['failed','skipped','unknown','read'])[1 + r.id %% 4]::delivery_state, 1, "
            "CASE WHEN r.id %% 9 = 8 THEN 'Forbidden: 403 (details: user ' || r.user_id || ')' "
            "WHEN r.id %% 9 = 7 THEN 'imrest error 10000: refused [request ' || r.user_id || ']' "
            'WHEN r.id %% 9 = 6 THEN \'mixin error 403: Forbidden (details: {"user": "\' || '
            'r.user_id || \'", "why": "(details: nested)"}) [request \' || a.id || \']\' '
            "ELSE (%s::text[])[1 + r.id %% 12] END "
            "FROM announcements a, recipients r",
            (reasons,),
        )
        conn.commit()
    migrate.upgrade(empty_database, "0008")
    everything = (
        "SELECT id, announcement_id, recipient_id, message_id, batch_id, state, attempts, "
        "sent_at, delivered_at, read_at, failed_at, {reason} FROM deliveries {join} ORDER BY id"
    )
    with contextlib.closing(psycopg2.connect(empty_database)) as conn, conn.cursor() as cursor:
        cursor.execute(everything.format(reason="last_error", join=""))
        before = cursor.fetchall()
    assert len(before) == 120
    texts = {row[-1] for row in before} - {None}
    assert texts >= set(reasons) - {None}

    migrate.upgrade(empty_database)
    migrate.check(empty_database)
    joined = "d LEFT JOIN delivery_reasons r ON r.id = d.reason_id"
    recorded = "r.text || coalesce(d.reason_detail, '')"
    with contextlib.closing(psycopg2.connect(empty_database)) as conn, conn.cursor() as cursor:
        cursor.execute(everything.format(reason=recorded, join=joined).replace("id,", "d.id,", 1))
        after = cursor.fetchall()
        cursor.execute("SELECT text FROM delivery_reasons")
        stored = {text for (text,) in cursor.fetchall()}
        cursor.execute("SELECT count(*) FROM deliveries WHERE reason_detail IS NOT NULL")
        (with_detail,) = cursor.fetchone() or (None,)
    assert after == before
    # Split as the writers split (the same parts, so ``announce show`` groups old and new alike):
    # the 36 per-recipient texts are three reasons, one of them shared with others.
    assert stored == {delivery_reasons.split(text)[0] for text in texts}
    assert stored == {
        "cancelled",
        "unsubscribed",
        "gave up after 5 attempts: mixin error 500: Internal Server Error",
        "",  # also " [request 2]"'s
        "x" * 500,
        "Forbidden: 403",  # also the per-recipient ones', and the one with a newline's
        "x" * 480,  # its details cut short by the bound still run to the end
        "x" * 480 + " [request cut at the",  # a request id cut short is no detail
        "mixin error 500 [request 3] then retried",
        "imrest error 10000: refused",
        "mixin error 403: Forbidden",
    }
    per_row = [row[-1] for row in before if row[-1] is not None]
    assert with_detail == sum(1 for text in per_row if delivery_reasons.split(text)[1])
    assert with_detail > 36

    command.downgrade(migrate.alembic_config(empty_database), "0008")
    with contextlib.closing(psycopg2.connect(empty_database)) as conn, conn.cursor() as cursor:
        cursor.execute(everything.format(reason="last_error", join=""))
        assert cursor.fetchall() == before
