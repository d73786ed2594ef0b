"""Shared fixtures: a real Postgres migrated once per session, a real Redis, and settings for both.

With ``BLAZECAST_DATABASE_URL`` / ``BLAZECAST_REDIS_URL`` set, the tests use those servers (a
database named ``<name>_test`` that they create and drop, and Redis database 15); without them the
embedded engines start under a temporary ``BLAZECAST_HOME``. Unit tests of SQL run in a transaction
that is rolled back; tests that start other processes use ``clean_db`` (committed data, truncated
before the test).
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg2
import pytest
import redis as redis_lib
from sqlalchemy import text
from sqlalchemy.orm import Session

from models import Base
from worker import embedded, migrate
from worker.config import Settings, load_settings
from worker.db import Database, Urls, make_redis


def _external_test_database(url: str) -> str:
    parts = urlsplit(url)
    name = (parts.path.lstrip("/") or "postgres") + "_test"
    admin = urlunsplit(parts._replace(path="/postgres"))
    with contextlib.closing(psycopg2.connect(admin)) as conn:
        conn.autocommit = True
        with conn.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # fixed test name
            cursor.execute(f'CREATE DATABASE "{name}"')
    return urlunsplit(parts._replace(path=f"/{name}"))


@pytest.fixture(scope="session")
def home() -> Iterator[Path]:
    # Not under pytest's 0700 temp folder: the embedded Postgres runs as its own system user when
    # the tests run as root, and it must be able to reach its data directory.
    path = Path(__file__).resolve().parent.parent / ".blazecast" / "tests" / str(os.getpid())
    path.mkdir(parents=True, exist_ok=True)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def engine_urls(home: Path) -> Iterator[Urls]:
    database_url = os.environ.get("BLAZECAST_DATABASE_URL") or None
    redis_url = os.environ.get("BLAZECAST_REDIS_URL") or None
    started = None
    if database_url is None or redis_url is None:
        started = embedded.acquire(
            home, need_database=database_url is None, need_redis=redis_url is None
        )
    if database_url is not None:
        database_url = _external_test_database(database_url)
    else:
        assert started is not None
        database_url = started.database_url
        with contextlib.closing(psycopg2.connect(database_url)) as conn:
            conn.autocommit = True
            with conn.cursor() as cursor:
                cursor.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    if redis_url is not None:
        redis_url = urlunsplit(urlsplit(redis_url)._replace(path="/15"))
    else:
        assert started is not None
        redis_url = started.redis_url
    migrate.upgrade(database_url)
    yield Urls(database_url, redis_url)
    if started is not None:
        embedded.release(home)


@pytest.fixture(scope="session")
def settings(engine_urls: Urls, home: Path) -> Settings:
    return load_settings(database_url=engine_urls.database, redis_url=engine_urls.redis, home=home)


@pytest.fixture(scope="session")
def database(engine_urls: Urls) -> Iterator[Database]:
    db = Database(engine_urls.database)
    yield db
    db.dispose()


@pytest.fixture
def db_session(database: Database) -> Iterator[Session]:
    """A session whose work, commits included, is rolled back after the test."""
    connection = database.engine.connect()
    outer = connection.begin()
    session = Session(bind=connection, join_transaction_mode="create_savepoint")
    try:
        yield session
    finally:
        session.close()
        outer.rollback()
        connection.close()


def _truncate_all(database: Database) -> None:
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with database.engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        # The announcements are gone, so are their deliveries partitions (else they pile up).
        partitions = connection.execute(
            text(
                "SELECT inhrelid::regclass::text FROM pg_inherits WHERE inhparent = 'deliveries'::regclass"
            )
        ).scalars()
        for partition in list(partitions):
            connection.execute(text(f"DROP TABLE {partition}"))


@pytest.fixture
def clean_db(database: Database) -> Iterator[Database]:
    """Committed data for tests that cross processes: every table emptied before and after."""
    _truncate_all(database)
    yield database
    _truncate_all(database)


@pytest.fixture
def redis_client(engine_urls: Urls) -> Iterator[redis_lib.Redis]:
    client = make_redis(engine_urls.redis)
    client.flushdb()
    yield client
    client.close()
