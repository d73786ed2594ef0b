"""Pooled connections that a Postgres restart broke are replaced after idling, not used."""

from __future__ import annotations

import time

import psycopg2
import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from worker import db as db_module
from worker.config import Settings
from worker.db import Database


def _backend_pid(database: Database) -> int:
    with database.session() as session:
        return int(session.execute(text("SELECT pg_backend_pid()")).scalar_one())


def _terminate(url: str, pid: int) -> None:
    with psycopg2.connect(url) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", (pid,))


def test_an_idle_connection_killed_by_the_server_is_tested_and_replaced(
    settings: Settings, engine_urls: db_module.Urls, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(db_module, "PING_AFTER_IDLE_SECONDS", 0.2)
    database = Database(engine_urls.database, pool_size=1)
    try:
        killed = _backend_pid(database)
        _terminate(engine_urls.database, killed)
        time.sleep(0.3)
        # Idle long enough: tested on checkout, found dead, replaced before the statement runs.
        assert _backend_pid(database) != killed
    finally:
        database.dispose()


def test_a_busy_connection_is_not_tested_on_every_checkout(
    settings: Settings, engine_urls: db_module.Urls, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(db_module, "PING_AFTER_IDLE_SECONDS", 60.0)
    database = Database(engine_urls.database, pool_size=1)
    try:
        _terminate(engine_urls.database, _backend_pid(database))
        # Just checked in: no test round trip, so the statement meets the dead connection ...
        with pytest.raises(OperationalError):
            _backend_pid(database)
        # ... and SQLAlchemy discards it: the next checkout connects afresh.
        _backend_pid(database)
    finally:
        database.dispose()
