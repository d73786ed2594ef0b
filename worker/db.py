"""Connections: the resolved URLs, the SQLAlchemy engine and sessions, the Redis client.

URLs come from the settings; where one is unset the embedded engine is started (``worker.embedded``).
Each process builds its engine once (``Database``) and passes it down; nothing here is a global that
holds a connection, except the per-process cache of resolved embedded URLs.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from dataclasses import dataclass

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry
from sqlalchemy import Engine, create_engine
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


def make_engine(url: str, *, pool_size: int = 5, synchronous_commit: bool = True) -> Engine:
    connect_args = {} if synchronous_commit else {"options": "-c synchronous_commit=off"}
    return create_engine(
        sqlalchemy_url(url),
        pool_size=pool_size,
        max_overflow=5,
        pool_pre_ping=True,  # survive a Postgres restart mid-broadcast
        connect_args=connect_args,
    )


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

    @contextlib.contextmanager
    def session(self) -> Iterator[Session]:
        """A session in a transaction: committed on success, rolled back on error."""
        with self.sessions.begin() as session:
            yield session

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
