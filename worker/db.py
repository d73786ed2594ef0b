"""Connections: the resolved URLs, the SQLAlchemy engine and sessions, the Redis client.

URLs come from the settings; where one is unset the embedded engine is started (``worker.embedded``).
Each process builds its engine once (``Database``) and passes it down; nothing here is a global that
holds a connection, except the per-process cache of resolved embedded URLs.
"""

from __future__ import annotations

import contextlib
import functools
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import psycopg2
import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry
from sqlalchemy import Engine, Executable, create_engine, event
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session, sessionmaker

from worker import embedded
from worker.config import Settings


@dataclass(frozen=True)
class Urls:
    database: str
    redis: str


def resolve_urls(settings: Settings) -> Urls:
    """The database and Redis URLs, starting embedded engines for whichever is unset."""
    return _resolve(settings.database_url, settings.redis_url, str(settings.home.resolve()))


@functools.cache
def _resolve(database_url: str | None, redis_url: str | None, home: str) -> Urls:
    if database_url and redis_url:
        return Urls(database_url, redis_url)
    from pathlib import Path

    started = embedded.acquire(
        Path(home), need_database=database_url is None, need_redis=redis_url is None
    )
    return Urls(database_url or started.database_url, redis_url or started.redis_url)


def sqlalchemy_url(url: str) -> str:
    """psycopg2 is the driver; accept plain postgresql:// URLs."""
    return (
        url.replace("postgresql://", "postgresql+psycopg2://", 1)
        if url.startswith("postgresql://")
        else url
    )


# A pooled connection idle for longer than this is tested before use (see ``_ping_after_idle``).
PING_AFTER_IDLE_SECONDS = 1.0


def make_engine(url: str, *, pool_size: int = 5, synchronous_commit: bool = True) -> Engine:
    connect_args = {} if synchronous_commit else {"options": "-c synchronous_commit=off"}
    engine = create_engine(
        sqlalchemy_url(url), pool_size=pool_size, max_overflow=5, connect_args=connect_args
    )
    _ping_after_idle(engine, PING_AFTER_IDLE_SECONDS)
    return engine


def _ping_after_idle(engine: Engine, idle_seconds: float) -> None:
    """Test a pooled connection before use only if it sat idle, to survive a Postgres restart.

    ``pool_pre_ping`` tests every checkout: three extra round trips per batch on the send path,
    where connections go back and forth many times a second. A connection in such use that a
    restart broke fails its statement instead; SQLAlchemy then discards the whole pool and the
    task is retried. (SQLAlchemy's "pessimistic disconnect handling" recipe, by idle time.)
    """

    @event.listens_for(engine, "checkin")
    def _checked_in(dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        if time.monotonic() - record.info.get("idle_since", 0.0) < idle_seconds:
            return
        try:
            with contextlib.closing(dbapi_connection.cursor()) as cursor:
                cursor.execute("SELECT 1")
        except psycopg2.Error:
            # The pool replaces the connection and tries again.
            raise DisconnectionError("pooled connection is gone") from None


class Database:
    """An engine plus a session factory; one per process.

    ``synchronous_commit=False`` is for work that is idempotent end to end (sending batches): a
    commit then returns before its WAL reaches disk. If Postgres itself crashes, the last few
    hundred milliseconds of such commits are lost, which only means a batch is sent again with
    the same message ids, and Mixin shows each id once. It saves one disk flush per statement.
    """

    def __init__(self, url: str, *, pool_size: int = 5, synchronous_commit: bool = True) -> None:
        self.url = url
        self.engine = make_engine(url, pool_size=pool_size, synchronous_commit=synchronous_commit)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        # The same pool; a connection checked out through it runs each statement in its own
        # implicit transaction (psycopg2 switches to autocommit without a round trip).
        self._autocommit = self.engine.execution_options(isolation_level="AUTOCOMMIT")

    @contextlib.contextmanager
    def session(self) -> Iterator[Session]:
        """A session in a transaction: committed on success, rolled back on error."""
        with self.sessions.begin() as session:
            yield session

    def read_scalar(self, statement: Executable, values: dict[str, Any]) -> Any:
        """The first column of the first row of one read (None without a row), outside any
        transaction: one round trip where a session adds a BEGIN and a COMMIT."""
        with self._autocommit.connect() as connection:
            return connection.execute(statement, values).scalar()

    def dispose(self) -> None:
        self.engine.dispose()


def make_redis(url: str) -> redis.Redis:
    # Short timeouts and few retries: a bucket call that hangs would hold a batch lease, so fail
    # closed quickly and let the task's own retry (or the reaper) come back later.
    return redis.Redis.from_url(
        url,
        socket_timeout=5,
        socket_connect_timeout=5,
        health_check_interval=30,
        retry=Retry(ExponentialBackoff(cap=1.0, base=0.1), retries=2),
    )
