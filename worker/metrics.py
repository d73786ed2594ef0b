"""Prometheus metrics beyond Flower's: announcement progress, the quota bucket, 429s, retries,
receipt lag and queue depth (Flower's own /metrics has no queue depth).

Postgres and Redis are the truth, so the exporter reads them on every scrape instead of keeping
counters of its own: it can run anywhere (``blazecast metrics serve``), any number of times, and
a restart loses nothing. The one thing neither holds is how often the provider answered with an
error; sending workers count that at the transport boundary (``CountingTransport``) into a Redis
hash, which the exporter reads.

| metric | type | meaning |
| --- | --- | --- |
| ``blazecast_announcement_messages{announcement,bot,title,status,outcome}`` | gauge | total, sent, delivered, read, failed, skipped, unknown of open (and lately finished) announcements |
| ``blazecast_announcement_rate_estimate{announcement,bot,rate,bound}`` | gauge | ESTIMATES for sampled (IM REST) announcements: the delivered / read rate (``bound`` = estimate, low, high of the 95 % interval) |
| ``blazecast_announcement_sample{announcement,bot,part}`` | gauge | their sample: ``sampled`` recipients, ``polled`` of them |
| ``blazecast_announcements{status}`` | gauge | announcements per status |
| ``blazecast_batches{state}`` | gauge | open batches: pending, queued, leased, retry |
| ``blazecast_batch_retries_total`` | counter | send attempts beyond each batch's first (after provider errors) |
| ``blazecast_batch_outcomes_total{outcome}`` | counter | ``send_batch`` runs by outcome: done, retry, throttled, failed, released, not-leased |
| ``blazecast_oldest_queued_batch_age_seconds`` | gauge | how long the oldest batch in the send queue has waited for a worker |
| ``blazecast_announcements_auto_paused`` | gauge | announcements paused by the error threshold |
| ``blazecast_last_tick_age_seconds`` | gauge | since the beat tick last ran (+Inf: not in the last day) |
| ``blazecast_live_workers{queue}`` | gauge | workers heard from in the last 10 s, per queue they consume |
| ``blazecast_provider_errors_total{kind}`` | counter | provider errors seen by sending workers (rate_limited = 429) |
| ``blazecast_rate_limited_total`` | counter | 429 answers |
| ``blazecast_quota_tokens{bot}`` | gauge | tokens in each bot's quota bucket now |
| ``blazecast_quota_rate_per_second{bot}`` / ``blazecast_quota_rate_factor{bot}`` | gauge | refill rate now, and its share of the nominal rate (< 1 after a 429) |
| ``blazecast_quota_wait_seconds{bot}`` | gauge | how long a full batch would wait for tokens now |
| ``blazecast_queue_depth{queue}`` | gauge | messages waiting in each Celery queue (all priorities) |
| ``blazecast_receipt_lag_seconds{quantile}`` | gauge | sent → DELIVERED, over the latest finished batches |
| ``blazecast_bot_halted{bot}`` | gauge | 1 while a 401 halts the bot's sending |
| ``blazecast_exporter_source_up{source}`` | gauge | whether Postgres / Redis answered this scrape |
"""

from __future__ import annotations

import contextlib
import logging
import math
import uuid
from collections.abc import Callable, Iterator, Sequence
from datetime import timedelta

import redis
from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import BigInteger, Uuid, bindparam, func, select, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import DBAPIError

from models import (
    OPEN_BATCH_STATES,
    Announcement,
    AnnouncementStatus,
    Batch,
    BatchState,
    Bot,
    BotProvider,
)
from worker import liveness
from worker.broadcast.sender import AUTO_PAUSED
from worker.db import Database
from worker.estimates import StatusEstimates, status_estimates
from worker.messaging import errors
from worker.messaging.transport import OutgoingMessage, Transport
from worker.queues import ALL_QUEUES
from worker.ratelimit import BucketSpec, TokenBuckets

log = logging.getLogger(__name__)

COUNTERS_KEY = "blazecast:metrics:provider_errors"
OUTCOMES_KEY = "blazecast:metrics:batch_outcomes"
# kombu's Redis transport keeps priorities 3, 6 and 9 of a queue in sibling lists.
_PRIORITY_SUFFIXES = ("", "\x06\x163", "\x06\x166", "\x06\x169")
RECENT_BATCHES = 20
FINISHED_SHOWN = timedelta(hours=1)  # finished announcements stay on the dashboards this long
_ERROR_KINDS: tuple[tuple[type[errors.MessagingError], str], ...] = (
    (errors.RateLimited, "rate_limited"),
    (errors.RequestTimeout, "timeout"),
    (errors.ConnectionLost, "connection_lost"),
    (errors.ServerError, "server_error"),
    (errors.Unauthorized, "unauthorized"),
    (errors.Forbidden, "forbidden"),
    (errors.InvalidData, "invalid_data"),
    (errors.PermanentError, "other_permanent"),
    (errors.TransientError, "other_transient"),
)

RECENT_DONE_BATCHES = text(
    "SELECT id, announcement_id FROM batches WHERE state = 'done' ORDER BY id DESC LIMIT :batches"
)
# The announcements are given as values so that only their deliveries partitions are planned.
RECEIPT_LAG = text(
    """
    SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY lag),
           percentile_cont(0.95) WITHIN GROUP (ORDER BY lag),
           count(*)
    FROM (
        SELECT greatest(extract(epoch FROM d.delivered_at - d.sent_at), 0) AS lag
        FROM deliveries d
        WHERE d.announcement_id = ANY(:announcements) AND d.batch_id = ANY(:batch_ids)
          AND d.sent_at IS NOT NULL AND d.delivered_at IS NOT NULL
    ) lags
    """
).bindparams(
    bindparam("announcements", type_=ARRAY(Uuid())),
    bindparam("batch_ids", type_=ARRAY(BigInteger())),
)


def error_kind(error: errors.MessagingError) -> str:
    return next(
        kind
        for cls, kind in _ERROR_KINDS + ((errors.MessagingError, "other"),)
        if isinstance(error, cls)
    )


class CountingTransport:
    """A Transport that counts the provider's errors by kind in Redis, then re-raises them.

    Counting never gets in the way of sending: if Redis cannot be reached, the count is lost.
    """

    def __init__(self, inner: Transport, client: redis.Redis) -> None:
        self.inner = inner
        self.client = client
        self.name = inner.name

    def send_messages(self, messages: Sequence[OutgoingMessage]) -> None:
        try:
            self.inner.send_messages(messages)
        except errors.MessagingError as error:
            with contextlib.suppress(redis.RedisError):
                self.client.hincrby(COUNTERS_KEY, error_kind(error), 1)
            raise

    def close(self) -> None:
        self.inner.close()


def count_outcome(client: redis.Redis, outcome: str) -> None:
    """Count one ``send_batch`` outcome; like the error counts, lost if Redis cannot be reached."""
    with contextlib.suppress(redis.RedisError):
        client.hincrby(OUTCOMES_KEY, outcome, 1)


class BlazecastCollector(Collector):
    """Reads Postgres and Redis on every scrape; a source that fails is reported as down."""

    def __init__(
        self,
        db: Database,
        client: redis.Redis,
        quota_of: Callable[[int, int | None], BucketSpec],
        batch: int,
    ):
        self.db = db
        self.redis = client
        self.buckets = TokenBuckets(client)
        self.quota_of = quota_of
        self.batch = batch
        # The bots as the last Postgres read saw them, for the quota buckets read from Redis.
        self._bots: list[tuple[int, str, int | None]] = []

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "blazecast_exporter_source_up", "Whether the source answered", labels=["source"]
        )
        try:
            yield from self._from_postgres()
            up.add_metric(["postgres"], 1)
        except DBAPIError as error:
            log.warning("metrics: Postgres did not answer: %s", str(error).splitlines()[0])
            up.add_metric(["postgres"], 0)
        try:
            yield from self._from_redis()
            up.add_metric(["redis"], 1)
        except redis.RedisError as error:
            log.warning("metrics: Redis did not answer: %s", error)
            up.add_metric(["redis"], 0)
        yield up

    def _from_postgres(self) -> Iterator[Metric]:
        with self.db.session() as session:
            shown = (
                session.execute(
                    select(Announcement).where(
                        Announcement.is_test.is_(False),
                        Announcement.status.in_(
                            (
                                AnnouncementStatus.SCHEDULED,
                                AnnouncementStatus.SENDING,
                                AnnouncementStatus.PAUSED,
                            )
                        )
                        | (Announcement.completed_at > func.now() - FINISHED_SHOWN),
                    )
                )
                .scalars()
                .all()
            )
            by_status = dict(
                session.execute(
                    select(Announcement.status, func.count()).group_by(Announcement.status)
                ).all()
            )
            batches = dict(
                session.execute(
                    select(Batch.state, func.count())
                    .where(Batch.state.in_(OPEN_BATCH_STATES))
                    .group_by(Batch.state)
                ).all()
            )
            # Only retried batches (a partial index), not every batch ever made.
            retries = session.execute(
                select(func.coalesce(func.sum(Batch.attempts - 1), 0)).where(Batch.attempts > 1)
            ).scalar_one()
            recent = session.execute(RECENT_DONE_BATCHES, {"batches": RECENT_BATCHES}).all()
            p50, p95, lag_sample = session.execute(
                RECEIPT_LAG,
                {
                    "announcements": sorted({a for _, a in recent}),
                    "batch_ids": [b for b, _ in recent],
                },
            ).one()
            bots = session.execute(
                select(Bot.id, Bot.name, Bot.quota_per_minute, Bot.halted_reason)
                .where(Bot.disabled_at.is_(None))
                .order_by(Bot.id)
            ).all()
            names = {bot_id: name for bot_id, name, _, _ in bots}
            oldest_queued = session.execute(
                select(
                    func.coalesce(
                        func.extract("epoch", func.now() - func.min(Batch.enqueued_at)), 0
                    )
                ).where(Batch.state == BatchState.QUEUED)
            ).scalar_one()
            estimates = {
                a.id: found
                for a in shown
                if a.bot.provider == BotProvider.IMREST and a.recall_of is None
                if (found := status_estimates(session, a.id, sent=a.sent, total=a.total))
            }
            auto_paused = session.execute(
                select(func.count()).where(
                    Announcement.status == AnnouncementStatus.PAUSED,
                    Announcement.status_reason.startswith(AUTO_PAUSED),
                )
            ).scalar_one()

        messages = GaugeMetricFamily(
            "blazecast_announcement_messages",
            "Messages of an announcement by outcome",
            labels=["announcement", "bot", "title", "status", "outcome"],
        )
        for a in shown:
            for outcome in ("total", "sent", "delivered", "read", "failed", "skipped", "unknown"):
                labels = [str(a.id), names.get(a.bot_id, ""), a.title[:60], a.status.value, outcome]
                messages.add_metric(labels, getattr(a, outcome))
        yield messages
        yield from _estimate_metrics(estimates, names, {a.id: a.bot_id for a in shown})
        statuses = GaugeMetricFamily(
            "blazecast_announcements", "Announcements by status", labels=["status"]
        )
        for status in AnnouncementStatus:
            statuses.add_metric([status.value], by_status.get(status, 0))
        yield statuses
        open_batches = GaugeMetricFamily("blazecast_batches", "Open batches", labels=["state"])
        for state in OPEN_BATCH_STATES:
            open_batches.add_metric([state.value], batches.get(state, 0))
        yield open_batches
        yield CounterMetricFamily(
            "blazecast_batch_retries", "Send attempts beyond each batch's first", value=retries
        )
        lag = GaugeMetricFamily(
            "blazecast_receipt_lag_seconds",
            f"Sent to DELIVERED, over the latest {RECENT_BATCHES} finished batches",
            labels=["quantile"],
        )
        if lag_sample:
            lag.add_metric(["0.5"], float(p50))
            lag.add_metric(["0.95"], float(p95))
        yield lag
        halted = GaugeMetricFamily(
            "blazecast_bot_halted", "1 while a 401 halts the bot's sending", labels=["bot"]
        )
        for _, name, _, reason in bots:
            halted.add_metric([name], 1 if reason is not None else 0)
        yield halted
        self._bots = [(bot_id, name, quota) for bot_id, name, quota, _ in bots]
        yield GaugeMetricFamily(
            "blazecast_oldest_queued_batch_age_seconds",
            "How long the oldest batch in the send queue has waited for a worker",
            value=float(oldest_queued),
        )
        yield GaugeMetricFamily(
            "blazecast_announcements_auto_paused",
            "Announcements paused by the error threshold",
            value=auto_paused,
        )

    def _from_redis(self) -> Iterator[Metric]:
        with self.redis.pipeline(transaction=False) as pipe:
            for queue in ALL_QUEUES:
                for suffix in _PRIORITY_SUFFIXES:
                    pipe.llen(queue + suffix)
            lengths = pipe.execute()
        depth = GaugeMetricFamily(
            "blazecast_queue_depth", "Messages waiting in a Celery queue", labels=["queue"]
        )
        per_queue = len(_PRIORITY_SUFFIXES)
        for index, queue in enumerate(ALL_QUEUES):
            depth.add_metric([queue], sum(lengths[index * per_queue : (index + 1) * per_queue]))
        yield depth

        counted: dict[bytes, bytes] = self.redis.hgetall(COUNTERS_KEY)  # type: ignore[assignment]
        provider = CounterMetricFamily(
            "blazecast_provider_errors", "Provider errors seen by sending workers", labels=["kind"]
        )
        for kind, n in sorted(counted.items()):
            provider.add_metric([kind.decode()], int(n))
        yield provider
        yield CounterMetricFamily(
            "blazecast_rate_limited",
            "429 answers from the provider",
            value=int(counted.get(b"rate_limited", 0)),
        )
        outcomes: dict[bytes, bytes] = self.redis.hgetall(OUTCOMES_KEY)  # type: ignore[assignment]
        by_outcome = CounterMetricFamily(
            "blazecast_batch_outcomes", "send_batch runs by outcome", labels=["outcome"]
        )
        for outcome, n in sorted(outcomes.items()):
            by_outcome.add_metric([outcome.decode()], int(n))
        yield by_outcome
        workers = GaugeMetricFamily(
            "blazecast_live_workers", "Workers heard from, per queue they consume", labels=["queue"]
        )
        for queue, names in sorted(liveness.workers_by_queue(self.redis).items()):
            workers.add_metric([queue], len(names))
        yield workers
        age = liveness.tick_age(self.redis)
        yield GaugeMetricFamily(
            "blazecast_last_tick_age_seconds",
            "Seconds since the beat tick last ran (+Inf: not in the last day)",
            value=math.inf if age is None else age,
        )

        yield from self._quota_buckets()

    def _quota_buckets(self) -> Iterator[Metric]:
        families = {
            "tokens": GaugeMetricFamily(
                "blazecast_quota_tokens", "Tokens in the bot's quota bucket", labels=["bot"]
            ),
            "rate": GaugeMetricFamily(
                "blazecast_quota_rate_per_second", "The bot's quota refill rate now", labels=["bot"]
            ),
            "factor": GaugeMetricFamily(
                "blazecast_quota_rate_factor",
                "Share of the bot's nominal rate in force (below 1 after a 429)",
                labels=["bot"],
            ),
            "wait": GaugeMetricFamily(
                "blazecast_quota_wait_seconds",
                "Wait for a full batch's tokens of the bot now",
                labels=["bot"],
            ),
        }
        for bot_id, name, per_minute in self._bots:
            spec = self.quota_of(bot_id, per_minute)
            tokens, rate = self.buckets.level(spec)
            wait = self.buckets.wait_seconds([spec], min(self.batch, spec.burst))
            families["tokens"].add_metric([name], tokens)
            families["rate"].add_metric([name], rate)
            families["factor"].add_metric([name], rate / spec.rate_per_second)
            families["wait"].add_metric([name], wait)
        yield from families.values()


def registry_for(collector: BlazecastCollector) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    return registry


def _estimate_metrics(
    estimates: dict[uuid.UUID, StatusEstimates], names: dict[int, str], bots: dict[uuid.UUID, int]
) -> Iterator[Metric]:
    """Rates of sampled announcements: estimates with their 95 % interval, and the sample."""
    rates = GaugeMetricFamily(
        "blazecast_announcement_rate_estimate",
        "ESTIMATE from a polled uniform sample: delivered / read rate and its 95 % interval",
        labels=["announcement", "bot", "rate", "bound"],
    )
    sample = GaugeMetricFamily(
        "blazecast_announcement_sample",
        "Recipients in the polled sample of a sampled announcement, and polled of them",
        labels=["announcement", "bot", "part"],
    )
    for announcement_id, found in estimates.items():
        bot = names.get(bots[announcement_id], "")
        for what, estimate in (("delivered", found.delivered), ("read", found.read)):
            for bound, value in (
                ("estimate", estimate.rate),
                ("low", estimate.low),
                ("high", estimate.high),
            ):
                rates.add_metric([str(announcement_id), bot, what, bound], value)
        sample.add_metric([str(announcement_id), bot, "sampled"], found.sampled)
        sample.add_metric([str(announcement_id), bot, "polled"], found.polled)
    yield rates
    yield sample
