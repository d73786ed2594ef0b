"""Per-process resources for tasks and commands, built lazily from the settings.

A worker process builds one ``Runtime`` (after the fork: see ``celery_app``) and every task uses
it: the database, Redis, the token buckets, and per bot (``BotRuntime``, built from the bot's row on
first use) its provider, quota bucket and sending transport. Nothing
here is created at import time, so ``blazecast --help`` starts no engine and opens no socket.
"""

from __future__ import annotations

import functools
import os
import socket
import threading

import redis

from worker.bots import BotAccess, make_provider, poll_share_of, quota_of
from worker.broadcast.dispatcher import Pace
from worker.broadcast.pipeline import PipelineConfig
from worker.broadcast.retry import RetryPolicy
from worker.broadcast.sender import BatchSender, SenderConfig
from worker.config import ConfigError, Settings
from worker.db import Database, Urls, make_redis, resolve_urls
from worker.messaging.provider import Provider
from worker.messaging.transport import Transport
from worker.ratelimit import BucketSpec, TokenBuckets


class BotRuntime:
    """One bot's sending parts in this process: its provider, quota bucket and transport."""

    def __init__(self, bot: BotAccess, settings: Settings, redis_client: redis.Redis) -> None:
        self.bot = bot
        self.id = bot.id
        self.provider: Provider = make_provider(bot, settings)
        self.quota: BucketSpec = quota_of(
            bot.id, bot.quota_per_minute, settings, provider=bot.provider
        )
        # The share of the quota that status polling may use (providers that poll statuses).
        self.poll_share: BucketSpec | None = poll_share_of(self.provider, bot, settings)
        self._redis = redis_client
        self._lock = threading.Lock()
        self._transport: Transport | None = None

    @property
    def transport(self) -> Transport:
        """The bot's sending transport, opened on first use; counts the provider's errors."""
        with self._lock:
            if self._transport is None:
                from worker.metrics import CountingTransport

                self._transport = CountingTransport(self.provider.open_transport(), self._redis)
            return self._transport

    def close(self) -> None:
        with self._lock:
            if self._transport is not None:
                self._transport.close()
                self._transport = None


class Runtime:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._bots: dict[int, BotRuntime] = {}
        self._bots_lock = threading.Lock()

    @functools.cached_property
    def urls(self) -> Urls:
        return resolve_urls(self.settings)

    @functools.cached_property
    def db(self) -> Database:
        return Database(self.urls.database)

    @functools.cached_property
    def send_db(self) -> Database:
        """The sender's connections: asynchronous commit (see ``Database``), as sending is
        idempotent by message_id."""
        return Database(self.urls.database, synchronous_commit=False)

    @functools.cached_property
    def redis(self) -> redis.Redis:
        return make_redis(self.urls.redis)

    @functools.cached_property
    def buckets(self) -> TokenBuckets:
        return TokenBuckets(self.redis, recovery_per_window=self.settings.rate_recovery_per_window)

    def bot(self, bot_id: int) -> BotRuntime:
        """The sending parts of bot ``bot_id``, built from its row on first use."""
        with self._bots_lock:
            found = self._bots.get(bot_id)
        if found is not None:
            return found
        from models import Bot
        from worker.bots import access

        with self.db.session() as session:
            row = session.get(Bot, bot_id)
            if row is None:
                raise ConfigError(f"bot {bot_id}: no such bot")
            built = BotRuntime(access(row), self.settings, self.redis)
        with self._bots_lock:
            return self._bots.setdefault(bot_id, built)

    def polling_bots(self) -> dict[int, BotRuntime]:
        """The enabled bots whose statuses are polled (IM REST), built on first use; a halted
        bot (a licence error, say) is not polled until it is resumed."""
        from sqlalchemy import select

        from models import Bot, BotProvider

        with self.db.session() as session:
            ids = (
                session.execute(
                    select(Bot.id).where(
                        Bot.disabled_at.is_(None),
                        Bot.halted_reason.is_(None),
                        Bot.provider == BotProvider.IMREST,
                    )
                )
                .scalars()
                .all()
            )
        bots = {bot_id: self.bot(bot_id) for bot_id in ids}
        return {i: b for i, b in bots.items() if b.provider.status_polling is not None}

    def check_bots(self) -> None:
        """Raise ``ConfigError`` / ``KeystoreError`` naming the first enabled bot whose
        credentials cannot be read (none is built for sending by this)."""
        from sqlalchemy import select

        from models import Bot
        from worker.bots import access, imrest_settings, load_mixin_keystore

        with self.db.session() as session:
            rows = session.execute(select(Bot).where(Bot.disabled_at.is_(None))).scalars()
            enabled = [access(row) for row in rows]
        if not enabled and self.settings.keystore is None:
            raise ConfigError(
                "BLAZECAST_KEYSTORE: not set; point it at the bot's keystore JSON file, or add "
                "bots with `blazecast bots add`"
            )
        for bot in enabled:
            if bot.provider == "mixin":
                load_mixin_keystore(bot, self.settings)
            else:
                imrest_settings(bot, self.settings, read_token=True)

    @functools.cached_property
    def pipeline_config(self) -> PipelineConfig:
        s = self.settings
        return PipelineConfig(
            pace=Pace(
                high_water=s.queue_high_water,
                default_quota=s.quota_per_minute,
                window_seconds=s.quota_window_seconds,
                batch_size=s.batch_size,
            ),
            plan_ahead=s.plan_ahead,
            plan_page_size=s.plan_page_size,
            requeue_after_seconds=s.requeue_after_seconds,
        )

    @functools.cached_property
    def sender(self) -> BatchSender:
        s = self.settings
        return BatchSender(
            self.send_db,
            self.bot,
            self.buckets,
            SenderConfig(
                retry=RetryPolicy(s.max_attempts, s.retry_base_seconds, s.retry_max_seconds),
                worker_name=f"{socket.gethostname()}:{os.getpid()}",
                lease_seconds=s.lease_seconds,
                batch_size=s.batch_size,
                error_threshold=s.error_threshold,
                error_threshold_min=s.error_threshold_min_batches * s.batch_size,
            ),
        )

    def close(self) -> None:
        """Release what was built (only what was built: cached_property keeps it in __dict__)."""
        with self._bots_lock:
            bots, self._bots = list(self._bots.values()), {}
        for bot in bots:
            bot.close()
        built = self.__dict__
        for name in ("db", "send_db"):
            if name in built:
                built[name].dispose()
        if "redis" in built:
            built["redis"].close()
        for name in ("db", "send_db", "redis", "buckets", "sender"):
            built.pop(name, None)
