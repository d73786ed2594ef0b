"""Migrations: upgrade head on an empty database, idempotently, with no drift from the models."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import psycopg2
import pytest
from alembic.util.exc import CommandError

from worker import migrate
from worker.db import Urls


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
