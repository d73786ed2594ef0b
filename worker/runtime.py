"""Per-process resources for tasks and commands, built lazily from the settings.

A worker process builds one ``Runtime`` (after the fork: see ``celery_app``) and every task uses
it: the database, Redis, the token buckets, the bot's keystore and its sending transport. Nothing
here is created at import time, so ``blazecast --help`` starts no engine and opens no socket.
"""

from __future__ import annotations

import functools
import os
import socket

import redis

from worker.broadcast.retry import RetryPolicy
from worker.broadcast.sender import BatchSender, SenderConfig
from worker.config import ConfigError, Settings
from worker.db import Database, Urls, make_redis, resolve_urls
from worker.messaging.mixin.keystore import Keystore, load_keystore
from worker.messaging.transport import Transport
from worker.ratelimit import BucketSpec, TokenBuckets, quota_spec


class Runtime:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

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

    @functools.cached_property
    def keystore(self) -> Keystore:
        if self.settings.keystore is None:
            raise ConfigError(
                "BLAZECAST_KEYSTORE: not set; point it at the bot's keystore JSON file"
            )
        return load_keystore(self.settings.keystore)

    @property
    def bot_id(self) -> str:
        return str(self.keystore.app_id)

    @functools.cached_property
    def quota(self) -> BucketSpec:
        return quota_spec(
            self.bot_id,
            self.settings.quota_per_minute,
            batch_size=self.settings.batch_size,
            delta_seconds=self.settings.quota_delta_seconds,
            window_seconds=self.settings.quota_window_seconds,
        )

    @functools.cached_property
    def transport(self) -> Transport:
        """The configured transport, counting the provider's errors by kind for the metrics."""
        from worker.messaging.factory import make_transport
        from worker.metrics import CountingTransport

        transport = make_transport(
            self.settings.transport,
            self.keystore,
            api_url=self.settings.mixin_api_url,
            blaze_url=self.settings.mixin_blaze_url,
            timeout=self.settings.request_timeout,
        )
        return CountingTransport(transport, self.redis)

    @functools.cached_property
    def sender(self) -> BatchSender:
        s = self.settings
        return BatchSender(
            self.send_db,
            self.transport,
            self.buckets,
            SenderConfig(
                bot_id=self.bot_id,
                quota=self.quota,
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
        built = self.__dict__
        if "transport" in built:
            built["transport"].close()
        for name in ("db", "send_db"):
            if name in built:
                built[name].dispose()
        if "redis" in built:
            built["redis"].close()
        for name in ("transport", "db", "send_db", "redis", "buckets", "sender"):
            built.pop(name, None)
