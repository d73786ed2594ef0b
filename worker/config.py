"""Settings: read once from the environment into one frozen object.

Nothing below this module reads ``os.environ``. Every variable is named ``BLAZECAST_*``; the names in
DESIGN.md ("Names other tools rely on") are fixed. A bad value raises :class:`ConfigError`, whose message
is one line naming the variable, so the CLI can print it as is.
"""

from __future__ import annotations

import functools
import os
import re
import sys
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

MAX_BATCH_MESSAGES = 100  # Mixin: at most 100 messages per CREATE_PLAIN_MESSAGES / POST /messages
# Settings whose value is a secret as a whole: an error about them never shows what was given.
SECRET_SETTINGS = frozenset({"flower_basic_auth"})
# Settings that are URLs: an error shows them with the password masked.
URL_SETTINGS = frozenset({"database_url", "redis_url", "mixin_api_url", "mixin_blaze_url"})
SHOWN_VALUE_CHARS = 80
_PASSWORD_PARAMETER = re.compile(r"(password=)[^&;#\s]*", re.IGNORECASE)


def default_home() -> Path:
    """Where blazecast keeps its state when ``BLAZECAST_HOME`` is unset: one folder whatever the
    working folder (a relative default made a second, empty database in every folder it ran in).

    The platform's user data folder (``$XDG_DATA_HOME/blazecast``, ``~/.local/share/blazecast``,
    ``~/Library/Application Support/blazecast`` on macOS); for root ``/var/lib/blazecast``, as
    root's home is closed to the embedded Postgres, which runs as its own user.
    """
    if os.geteuid() == 0:
        return Path("/var/lib/blazecast")
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "blazecast"
    data = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data) / "blazecast"


class ConfigError(Exception):
    """A setting is missing or invalid; the message names the environment variable."""


class Settings(BaseSettings):
    """Every knob of blazecast, with the defaults a laptop needs."""

    model_config = SettingsConfigDict(env_prefix="BLAZECAST_", frozen=True, extra="ignore")

    # Engines: unset means "start the embedded one under home".
    database_url: str | None = None
    redis_url: str | None = None
    home: Path = Field(default_factory=default_home)

    # The bot and the provider.
    keystore: Path | None = None
    mixin_api_url: str = "https://api.mixin.one"
    mixin_blaze_url: str = "wss://blaze.mixin.one"
    transport: Literal["blaze", "http"] = "blaze"
    request_timeout: float = Field(default=5.0, gt=0)

    # Pacing and batching.
    # A bucket needs a limit of 2 to pace at all (worker.ratelimit.specs.spec_for_limit).
    quota_per_minute: int = Field(default=100_000, ge=2)
    quota_delta_seconds: float = Field(default=0.5, ge=0)
    # The quota's window. Mixin's is a minute; tests shrink it to make the quota bind quickly.
    quota_window_seconds: float = Field(default=60.0, gt=0)
    batch_size: int = Field(default=MAX_BATCH_MESSAGES, ge=1, le=MAX_BATCH_MESSAGES)
    # After a 429 the shared rate halves, then climbs back by this share of the quota per window:
    # 1.0 is back to full speed within half a minute of one 429, within a minute of a storm.
    rate_recovery_per_window: float = Field(default=1.0, gt=0)

    # Retries, leases and recovery.
    max_attempts: int = Field(default=8, ge=1)
    retry_base_seconds: float = Field(default=1.0, gt=0)
    retry_max_seconds: float = Field(default=60.0, gt=0)
    lease_seconds: int = Field(default=60, ge=2)
    # A queued batch whose Celery message may be lost (Redis restarted) is published again after this.
    requeue_after_seconds: float = Field(default=60.0, gt=0)
    queue_high_water: int = Field(default=200, ge=1)
    # Planning stays this many messages ahead of sending (planned, not yet sent), so that planning a
    # large audience never competes with sending all at once; 0 plans the whole audience at once.
    plan_ahead: int = Field(default=50_000, ge=0)
    # Recipients planned per statement (one transaction each).
    plan_page_size: int = Field(default=20_000, ge=1)
    error_threshold: float = Field(default=0.2, gt=0, le=1)
    error_threshold_min_batches: int = Field(default=20, ge=1)

    # Retention: with a number of days set, beat archives announcements that finished longer ago
    # than that (``blazecast history archive``) into this folder (default: <home>/archive).
    history_archive_after_days: int | None = Field(default=None, ge=1)
    history_archive_dir: Path | None = None

    # Operations.
    flower_basic_auth: str | None = None
    flower_port: int = Field(default=5555, ge=1, le=65535)
    metrics_port: int = Field(default=9808, ge=0, le=65535)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @field_validator("database_url", "redis_url", "keystore", "flower_basic_auth", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("database_url")
    @classmethod
    def _postgres_only(cls, value: str | None) -> str | None:
        if value is not None and value.startswith("postgres://"):
            # Heroku, Render and libpq write postgres://; SQLAlchemy only knows postgresql://.
            value = "postgresql://" + value.removeprefix("postgres://")
        if value is not None and not value.startswith(("postgresql://", "postgresql+psycopg2://")):
            raise ValueError("must be a postgresql:// URL")
        return _parsable(value)

    @field_validator("redis_url")
    @classmethod
    def _redis_only(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must be a redis:// URL")
        return _parsable(value)

    @field_validator("flower_basic_auth")
    @classmethod
    def _user_colon_password(cls, value: str | None) -> str | None:
        if value is not None and (":" not in value or value.startswith(":") or value.endswith(":")):
            raise ValueError("must look like user:password")
        return value


def _parsable(url: str | None) -> str | None:
    """``url`` if its host and port parse (the drivers would fail later, quoting the URL)."""
    if url is None:
        return None
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 -- raises ValueError for a port that is not a number
    except ValueError:
        raise ValueError("is not a valid URL (check the host and the port)") from None
    return url


def redact_url(url: str) -> str:
    """``url`` with any password masked (``u:***@host``, ``password=***``), for messages.

    Works on text that does not parse as a URL too: everything between the first ``:`` after the
    scheme and the last ``@`` is masked, which may hide more than the password, never less.
    """
    start = url.find("://")
    start = start + 3 if start >= 0 else 0
    at = url.rfind("@")
    colon = url.find(":", start, at) if at > start else -1
    if colon >= 0:
        url = f"{url[: colon + 1]}***{url[at:]}"
    return _PASSWORD_PARAMETER.sub(r"\1***", url)


def shown_value(field: str, given: object) -> str:
    """How an error may quote the value ``given`` for setting ``field``: never a secret."""
    if field in SECRET_SETTINGS:
        return "(value not shown: it holds a password)"
    text = redact_url(given) if field in URL_SETTINGS and isinstance(given, str) else repr(given)
    if len(text) > SHOWN_VALUE_CHARS:
        text = text[:SHOWN_VALUE_CHARS] + "…"
    return f"(got {text})"


def _describe(error: ValidationError) -> str:
    first = error.errors()[0]
    field = str(first["loc"][0]) if first["loc"] else "?"
    given = first.get("input")
    shown = "" if isinstance(given, dict) or given is None else " " + shown_value(field, given)
    message = first["msg"].removeprefix("Value error, ")
    return f"BLAZECAST_{field.upper()}: {message}{shown}"


def load_settings(**overrides: object) -> Settings:
    """Read the environment (plus explicit overrides, for tests) into a frozen Settings."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as error:
        raise ConfigError(_describe(error)) from None


@functools.cache
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return load_settings()
