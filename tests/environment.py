"""The environment that points a ``blazecast`` process (or an in-process CLI) at the test engines."""

from __future__ import annotations

from pathlib import Path

from worker.config import Settings


def engine_env(settings: Settings, home: Path) -> dict[str, str]:
    """``BLAZECAST_*`` for the test database and Redis, with state kept under ``home``."""
    assert settings.database_url and settings.redis_url
    return {
        "BLAZECAST_DATABASE_URL": settings.database_url,
        "BLAZECAST_REDIS_URL": settings.redis_url,
        "BLAZECAST_HOME": str(home),
    }
