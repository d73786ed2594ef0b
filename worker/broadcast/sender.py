"""Sending one batch: lease it, re-check the announcement, take tokens, send, record the outcome.

The flow of ``BatchSender.send`` (the body of the ``send_batch`` task):

1. Lease the batch with a compare-and-set (``queued`` → ``leased``); a batch someone else holds, or
   one already done, is left alone, so a redelivered Celery message is harmless.
2. Re-check the announcement: paused or cancelled work goes back without sending (pause takes
   effect at the next batch). Recipients who left since planning are skipped.
3. Split to the provider's limits (≤ 100 messages, ≤ 128 KB), take that many tokens from the bot's
   quota bucket (and the announcement's cap) in Redis, send, and record the accepted deliveries
   in one UPDATE, at once, so a crash later never re-counts them.
4. Errors, classified once in ``worker.messaging.errors``: a batch refused as a whole for a
   permanent reason (403, 10002, 400) is bisected until the recipients that caused it are found,
   so the others still get their message; 403 marks a recipient unreachable. Transient errors put
   the batch in ``retry`` with capped, jittered backoff (429 also slows the shared bucket), until
   the attempts run out. 401 halts the bot's sending with the reason.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import Interval, String, bindparam, func, select, update

from models import Announcement, AnnouncementStatus, Batch, BatchState, RecipientStatus
from worker.broadcast import outcomes, state
from worker.broadcast.outcomes import Pending
from worker.broadcast.retry import RetryPolicy
from worker.db import Database
from worker.messaging.errors import (
    Forbidden,
    MessagingError,
    PermanentError,
    RateLimited,
    TransientError,
    Unauthorized,
)
from worker.messaging.mixin.batching import split_batches
from worker.messaging.mixin.ids import message_id_for, unique_conversation_id
from worker.messaging.mixin.payloads import build_payload, encode_data
from worker.messaging.transport import OutgoingMessage, Transport
from worker.ratelimit import BucketSpec, TokenBuckets, cap_spec, max_cost

log = logging.getLogger(__name__)

# How the error threshold's pause reason begins (the metrics count such announcements).
AUTO_PAUSED = "auto-paused:"


@dataclass(frozen=True)
class SenderConfig:
    bot_id: str
    quota: BucketSpec
    retry: RetryPolicy
    worker_name: str
    lease_seconds: int = 60
    batch_size: int = 100
    max_token_wait: float = 10.0
    error_threshold: float = 0.2
    error_threshold_min: int = 200


@dataclass(frozen=True)
class BatchResult:
    """What one ``send`` did; ``outcome`` is one of: done, retry (after a provider error, named
    in ``reason``), throttled (waiting for tokens), failed, released, not-leased."""

    outcome: str
    sent: int = 0
    failed: int = 0
    retry_in: float | None = None
    reason: str | None = None
    announcement_id: uuid.UUID | None = None


@dataclass(frozen=True)
class _Announcement:
    """What sending needs of the announcement, read once per batch."""

    id: uuid.UUID
    status: AnnouncementStatus
    category: str
    data_base64: str | None
    rate_per_minute: int | None
    recall_of: uuid.UUID | None


@dataclass(frozen=True)
class _Lease:
    batch_id: int
    announcement: _Announcement
    attempts: int
    pending: list[Pending]

    def by_message_id(self) -> dict[str, Pending]:
        return {p.message_id: p for p in self.pending}


_b, _a = outcomes.batches.c, outcomes.announcements.c
# One statement leases the batch and reads what sending needs of its announcement; built once
# (see ``outcomes``).
_LEASE = (
    update(outcomes.batches)
    .where(
        _b.id == bindparam("batch"),
        _b.state == BatchState.QUEUED,
        _a.id == _b.announcement_id,
    )
    .values(
        state=BatchState.LEASED,
        lease_until=func.now() + bindparam("lease", type_=Interval),
        leased_by=bindparam("worker", type_=String),
        attempts=_b.attempts + 1,
    )
    .returning(
        _b.attempts, _a.id, _a.status, _a.category, _a.data_base64, _a.rate_per_minute, _a.recall_of
    )
)


class _NeedsWait(Exception):
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds


class BatchSender:
    """Sends batches through one transport under the shared token buckets."""

    def __init__(
        self, db: Database, transport: Transport, buckets: TokenBuckets, config: SenderConfig
    ) -> None:
        self.db = db
        self.transport = transport
        self.buckets = buckets
        self.config = config

    def send(self, batch_id: int) -> BatchResult:
        lease = self._lease(batch_id)
        if lease is None:
            return BatchResult("not-leased")
        if lease.announcement.status != AnnouncementStatus.SENDING:
            return self._hand_back(lease)
        sent = failed = 0
        by_id = lease.by_message_id()
        try:
            # A small per-announcement cap has a burst below one batch: send smaller requests so
            # the cap holds to the message instead of borrowing against the next window.
            largest = min(self.config.batch_size, max_cost(self._specs(lease.announcement)))
            for chunk in split_batches(self._messages(lease), max_messages=largest):
                s, f = self._deliver(lease, by_id, chunk)
                sent, failed = sent + s, failed + f
        except _NeedsWait as wait:
            self._release(lease, BatchState.RETRY, wait.seconds, attempts=Batch.attempts - 1)
            reason = "waiting for the quota's tokens"
            return BatchResult(
                "throttled", sent, failed, wait.seconds, reason, lease.announcement.id
            )
        except Unauthorized as error:
            with self.db.session() as session:
                state.halt_bot(session, uuid.UUID(self.config.bot_id), f"{error.reason}: {error}")
            self._release(lease, BatchState.PENDING, None, attempts=Batch.attempts - 1)
            reason = f"bot halted: {error.reason}"
            return BatchResult(
                "released", sent, failed, reason=reason, announcement_id=lease.announcement.id
            )
        except TransientError as error:
            return self._transient(lease, error, sent, failed)
        self._finish(lease, BatchState.DONE, failures=failed)
        return BatchResult("done", sent, failed, announcement_id=lease.announcement.id)

    # --- steps -----------------------------------------------------------------------------

    def _lease(self, batch_id: int) -> _Lease | None:
        with self.db.session() as session:
            conn = session.connection()
            leased = conn.execute(
                _LEASE,
                {
                    "batch": batch_id,
                    "lease": timedelta(seconds=self.config.lease_seconds),
                    "worker": self.config.worker_name,
                },
            ).first()
            if leased is None:
                return None
            attempts, *columns = leased
            announcement = _Announcement(*columns)
            pending = outcomes.pending_deliveries(conn, batch_id)
            gone = [p for p in pending if p.recipient_status != RecipientStatus.ACTIVE]
            if gone and announcement.status == AnnouncementStatus.SENDING:
                outcomes.record_skipped(
                    conn,
                    announcement.id,
                    [p.delivery_id for p in gone],
                    "recipient left before sending",
                )
                pending = [p for p in pending if p.recipient_status == RecipientStatus.ACTIVE]
            return _Lease(batch_id, announcement, attempts, pending)

    def _messages(self, lease: _Lease) -> list[OutgoingMessage]:
        announcement = lease.announcement
        bot = self.config.bot_id
        messages = []
        for p in lease.pending:
            user = p.user_id
            messages.append(
                OutgoingMessage(
                    conversation_id=p.conversation_id or unique_conversation_id(bot, user),
                    recipient_id=user,
                    message_id=p.message_id,
                    category=announcement.category,
                    data_base64=self._data_for(announcement, user),
                )
            )
        return messages

    @staticmethod
    def _data_for(announcement: _Announcement, user_id: str) -> str:
        if announcement.recall_of is None:
            assert announcement.data_base64 is not None, "a plain announcement has its payload"
            return announcement.data_base64
        # A recall names, per recipient, the message_id the original announcement sent them.
        original = message_id_for(announcement.recall_of, user_id)
        return encode_data(build_payload("MESSAGE_RECALL", {"message_id": original}))

    def _deliver(
        self, lease: _Lease, by_id: dict[str, Pending], chunk: list[OutgoingMessage]
    ) -> tuple[int, int]:
        """Send ``chunk``; on a permanent refusal bisect it. Returns (sent, failed)."""
        self._take_tokens(lease.announcement, len(chunk))
        try:
            self.transport.send_messages(chunk)
        except PermanentError as error:
            if isinstance(error, Unauthorized):
                raise
            blamed = next((m for m in chunk if m.message_id == error.blamed_message_id), None)
            if blamed is not None and len(chunk) > 1:
                # The provider named the culprit: fail it alone and send the rest at once.
                failed = self._fail_one(lease, by_id[blamed.message_id], error)
                sent, more_failed = self._deliver(lease, by_id, [m for m in chunk if m != blamed])
                return sent, failed + more_failed
            if len(chunk) > 1:
                # Otherwise bisect: ~2·log2(n) requests find one bad message among n.
                middle = len(chunk) // 2
                left = self._deliver(lease, by_id, chunk[:middle])
                right = self._deliver(lease, by_id, chunk[middle:])
                return left[0] + right[0], left[1] + right[1]
            return 0, self._fail_one(lease, by_id[chunk[0].message_id], error)
        with self.db.session() as session:
            ids = [by_id[m.message_id].delivery_id for m in chunk]
            conn = session.connection()
            sent = outcomes.record_sent(conn, lease.announcement.id, ids, attempt=lease.attempts)
            return sent, 0

    def _fail_one(self, lease: _Lease, pending: Pending, error: MessagingError) -> int:
        with self.db.session() as session:
            conn = session.connection()
            if isinstance(error, Forbidden):
                outcomes.mark_unreachable(conn, [pending.recipient_id], str(error))
            return outcomes.record_failed(
                conn,
                lease.announcement.id,
                [pending.delivery_id],
                str(error),
                attempt=lease.attempts,
            )

    def _specs(self, announcement: _Announcement) -> list[BucketSpec]:
        specs = [self.config.quota]
        if announcement.rate_per_minute:
            specs.append(cap_spec(str(announcement.id), announcement.rate_per_minute))
        return specs

    def _take_tokens(self, announcement: _Announcement, cost: int) -> None:
        specs = self._specs(announcement)
        if not self.buckets.take(specs, cost, timeout=self.config.max_token_wait):
            raise _NeedsWait(max(self.buckets.wait_seconds(specs, cost), 0.1))

    def _transient(
        self, lease: _Lease, error: TransientError, sent: int, failed: int
    ) -> BatchResult:
        if isinstance(error, RateLimited):
            self.buckets.penalize(self.config.quota)
        if self.config.retry.exhausted(lease.attempts):
            with self.db.session() as session:
                conn = session.connection()
                rest = outcomes.pending_deliveries(conn, lease.batch_id)
                failed += outcomes.record_failed(
                    conn,
                    lease.announcement.id,
                    [p.delivery_id for p in rest],
                    f"gave up after {lease.attempts} attempts: {error}",
                    attempt=lease.attempts,
                )
            self._finish(lease, BatchState.FAILED, last_error=str(error)[:500])
            reason = f"gave up after {lease.attempts} attempts: {error}"
            return BatchResult(
                "failed", sent, failed, reason=reason, announcement_id=lease.announcement.id
            )
        delay = self.config.retry.delay(lease.attempts)
        if isinstance(error, RateLimited) and error.retry_after:
            delay = max(delay, error.retry_after)
        self._release(lease, BatchState.RETRY, delay, last_error=str(error)[:500])
        return BatchResult("retry", sent, failed, delay, str(error)[:200], lease.announcement.id)

    def _hand_back(self, lease: _Lease) -> BatchResult:
        """The announcement is not sending: keep the batch for a resume, or close it."""
        if state.is_terminal(lease.announcement.status):
            self._release(lease, BatchState.CANCELLED, None)
        else:
            self._release(lease, BatchState.PENDING, None, attempts=Batch.attempts - 1)
        reason = f"announcement {lease.announcement.status.value}"
        return BatchResult("released", reason=reason, announcement_id=lease.announcement.id)

    def _release(self, lease: _Lease, to: BatchState, delay: float | None, **values: Any) -> None:
        if delay is not None:
            values["next_attempt_at"] = func.now() + timedelta(seconds=delay)
        with self.db.session() as session:
            outcomes.release_batch(session.connection(), lease.batch_id, to, **values)

    def _finish(self, lease: _Lease, to: BatchState, *, failures: int = 0, **values: Any) -> None:
        """Close the batch, then complete the announcement or pause it on too many failures."""
        announcement_id = lease.announcement.id
        with self.db.session() as session:
            outcomes.release_batch(session.connection(), lease.batch_id, to, **values)
            completed = state.complete_if_done(session, announcement_id)
            if not completed and (to is BatchState.FAILED or failures):
                self._check_error_threshold(session, announcement_id)

    def _check_error_threshold(self, session: Any, announcement_id: uuid.UUID) -> None:
        sent, failed = session.execute(
            select(Announcement.sent, Announcement.failed).where(Announcement.id == announcement_id)
        ).one()
        finished = sent + failed
        if failed < self.config.error_threshold_min or failed / finished < (
            self.config.error_threshold
        ):
            return
        reason = (
            f"{AUTO_PAUSED} {failed} of {finished} messages failed "
            f"(threshold {self.config.error_threshold:.0%}); see `blazecast announce show`"
        )
        if state.transition(
            session,
            announcement_id,
            AnnouncementStatus.PAUSED,
            reason=reason,
            only_from=(AnnouncementStatus.SENDING,),
        ):
            log.warning("announcement %s %s", announcement_id, reason)
