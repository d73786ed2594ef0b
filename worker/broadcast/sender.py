"""Sending one batch: lease it, check the announcement, take tokens, send, record the outcome.

The flow of ``BatchSender.send`` (the body of the ``send_batch`` task):

1. Lease the batch with a compare-and-set (``queued`` → ``leased``); a batch someone else holds, or
   one already done, is left alone, so a redelivered Celery message is harmless.
2. Re-check the announcement: paused or cancelled work goes back without sending. Recipients who
   left since planning are skipped.
3. Build the messages with the bot's provider, split them to its limits, and for each request take
   that many tokens from the bot's quota bucket (and the announcement's cap) in Redis, without
   waiting: if the tokens are not there the batch is parked at once with the time they will be
   (``throttled``), so a worker never sleeps on one bot's or one announcement's tokens while other
   work could go. Immediately before each request the announcement's status is read again, so
   nothing goes out after a pause or cancel committed. What the provider accepted is recorded in
   one UPDATE at once, so a crash later never re-counts it.
4. Errors, classified once in ``worker.messaging.errors``: a batch refused as a whole for a
   permanent reason (403, 10002, 400) is bisected until the recipients that caused it are found,
   so the others still get their message; 403 marks a recipient unreachable. Transient errors put
   the batch in ``retry`` with capped, jittered backoff (429 also slows the bot's bucket), until
   the attempts run out. 401 halts the bot's sending with the reason. A request declined as a
   whole with nobody blamed (``BatchRefused``) fails its recipients without splitting.
5. A provider whose dedup forgets (``Provider.retry_horizon``: IM REST's ``transaction_id`` is
   remembered "in a short time") counts each request's attempt on its deliveries before it goes
   out. A retry inside the horizon repeats the same request, which the provider deduplicates;
   past it (``may_retry`` false: the ``mark_unknown`` policy) the recipients of a request that
   got no answer are recorded ``unknown``, never sent twice and never counted sent, and the rest
   of the batch goes with a fresh horizon.
"""

from __future__ import annotations

import dataclasses
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol

from sqlalchemy import Interval, String, bindparam, func, select, update

from models import Announcement, AnnouncementStatus, Batch, BatchState, RecipientStatus
from worker.broadcast import outcomes, state
from worker.broadcast.outcomes import Pending
from worker.broadcast.retry import RetryPolicy
from worker.db import Database
from worker.messaging.errors import (
    BatchRefused,
    Forbidden,
    MessagingError,
    PermanentError,
    RateLimited,
    TransientError,
    Unauthorized,
)
from worker.messaging.provider import Addressee, Provider
from worker.messaging.transport import OutgoingMessage, Transport
from worker.ratelimit import BucketSpec, TokenBuckets, cap_spec, max_cost

log = logging.getLogger(__name__)

# A batch whose tokens come within this long is published again with a countdown (kept in the
# worker's memory, not a process); a longer wait parks it in Postgres for the beat tick.
SHORT_WAIT_SECONDS = 2.0
# How the error threshold's pause reason begins (the metrics count such announcements).
AUTO_PAUSED = "auto-paused:"


@dataclass(frozen=True)
class SenderConfig:
    retry: RetryPolicy
    worker_name: str
    lease_seconds: int = 60
    batch_size: int = 100
    error_threshold: float = 0.2
    error_threshold_min: int = 200


class BotSending(Protocol):
    """What sending needs of one bot in this process (``worker.runtime.BotRuntime``)."""

    id: int
    provider: Provider
    quota: BucketSpec

    @property
    def transport(self) -> Transport: ...


@dataclass(frozen=True)
class BatchResult:
    """What one ``send`` did; ``outcome`` is one of: done, retry, throttled, failed, unknown,
    released, not-leased. ``retry_in`` is when a retried or throttled batch may go again, ``error`` the
    provider's error that made it retry or fail."""

    outcome: str
    sent: int = 0
    failed: int = 0
    retry_in: float | None = None
    error: str | None = None
    announcement_id: str | None = None
    bot_id: int | None = None


@dataclass(frozen=True)
class _Announcement:
    """What sending needs of the announcement, read once per batch."""

    id: uuid.UUID
    bot_id: int
    status: AnnouncementStatus
    category: str
    data_base64: str | None
    rate_per_minute: int | None
    recall_of: uuid.UUID | None


@dataclass
class _Lease:
    batch_id: int
    announcement: _Announcement
    attempts: int
    pending: list[Pending]
    # Seconds since the batch's first request went out; None until one has.
    first_attempt_age: float | None
    # The most one request may carry since one was refused as a whole (None: no limit).
    split_size: int | None = None

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
        _b.attempts,
        func.extract("epoch", func.now() - _b.first_attempt_at),
        _b.split_size,
        _a.id,
        _a.bot_id,
        _a.status,
        _a.category,
        _a.data_base64,
        _a.rate_per_minute,
        _a.recall_of,
    )
)
# Read immediately before every request: a pause or cancel that committed stops the next one.
_STATUS = select(_a.status).where(_a.id == bindparam("announcement"))
# The retry horizon of a provider whose dedup forgets starts when a request first goes out.
_FIRST_ATTEMPT = (
    update(outcomes.batches)
    .where(_b.id == bindparam("batch"), _b.first_attempt_at.is_(None))
    .values(first_attempt_at=func.now())
)
_SPLIT = (
    update(outcomes.batches)
    .where(_b.id == bindparam("batch"))
    .values(
        split_size=func.least(
            func.coalesce(_b.split_size, bindparam("largest")), bindparam("largest")
        )
    )
)
_NEW_HORIZON = (
    update(outcomes.batches).where(_b.id == bindparam("batch")).values(first_attempt_at=None)
)


class _Throttled(Exception):
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds


class _Stopped(Exception):
    """The announcement left ``sending`` while its batch was being sent."""

    def __init__(self, status: AnnouncementStatus | None) -> None:
        self.status = status


class BatchSender:
    """Sends batches of any bot, each through its bot's provider, under the shared buckets."""

    def __init__(
        self,
        db: Database,
        bots: Callable[[int], BotSending],
        buckets: TokenBuckets,
        config: SenderConfig,
    ) -> None:
        self.db = db
        self.bots = bots
        self.buckets = buckets
        self.config = config

    def send(self, batch_id: int) -> BatchResult:
        lease = self._lease(batch_id)
        if lease is None:
            return BatchResult("not-leased")
        return dataclasses.replace(
            self._send_leased(lease),
            announcement_id=str(lease.announcement.id),
            bot_id=lease.announcement.bot_id,
        )

    def _send_leased(self, lease: _Lease) -> BatchResult:
        if lease.announcement.status != AnnouncementStatus.SENDING:
            return self._hand_back(lease, lease.announcement.status)
        bot = self.bots(lease.announcement.bot_id)
        age = lease.first_attempt_age
        if age is not None and not bot.provider.may_retry(age):
            self._past_horizon(lease, age)
        sent = failed = 0
        by_id = lease.by_message_id()
        try:
            # A small per-announcement cap has a burst below one batch: send smaller requests so
            # the cap holds to the message instead of borrowing against the next window.
            largest = self._largest_request(bot, lease)
            largest = min(largest, lease.split_size or largest)
            for chunk in bot.provider.split(self._messages(bot, lease), largest):
                s, f = self._deliver(bot, lease, by_id, chunk)
                sent, failed = sent + s, failed + f
        except _Throttled as wait:
            self._park(lease, wait.seconds)
            return BatchResult("throttled", sent, failed, wait.seconds)
        except _Stopped as stopped:
            self._hand_back(lease, stopped.status)
            return BatchResult("released", sent, failed)
        except Unauthorized as error:
            with self.db.session() as session:
                state.halt_bot(session, bot.id, f"{error.reason}: {error}")
            self._release(lease, BatchState.PENDING, None, attempts=Batch.attempts - 1)
            return BatchResult("released", sent, failed, error=str(error))
        except TransientError as error:
            return self._transient(bot, lease, error, sent, failed)
        self._finish(lease, BatchState.DONE, failures=failed)
        return BatchResult("done", sent, failed)

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
            attempts, age, split_size, *columns = leased
            announcement = _Announcement(*columns)
            pending = outcomes.pending_deliveries(conn, batch_id, announcement.id)
            # A delivery already in a request that got no answer stays in it: dropping it would
            # change the request (and its transaction id) of a provider whose dedup forgets.
            gone = [
                p
                for p in pending
                if p.recipient_status != RecipientStatus.ACTIVE and p.attempts == 0
            ]
            if gone and announcement.status == AnnouncementStatus.SENDING:
                outcomes.record_skipped(
                    conn,
                    announcement.id,
                    [p.delivery_id for p in gone],
                    "recipient left before sending",
                )
                skipped = {p.delivery_id for p in gone}
                pending = [p for p in pending if p.delivery_id not in skipped]
            return _Lease(
                batch_id,
                announcement,
                attempts,
                pending,
                None if age is None else float(age),
                split_size,
            )

    @staticmethod
    def _messages(bot: BotSending, lease: _Lease) -> list[OutgoingMessage]:
        announcement = lease.announcement
        addressees = [Addressee(p.user_id, p.message_id) for p in lease.pending]
        return bot.provider.messages(
            announcement.category,
            announcement.data_base64,
            announcement.recall_of,
            addressees,
            announcement_id=announcement.id,
        )

    def _deliver(
        self,
        bot: BotSending,
        lease: _Lease,
        by_id: dict[str, Pending],
        chunk: list[OutgoingMessage],
    ) -> tuple[int, int]:
        """Send ``chunk``; on a permanent refusal bisect it. Returns (sent, failed)."""
        self._check_still_sending(lease)
        self._take_tokens(bot, lease.announcement, chunk)
        ids = [by_id[m.message_id].delivery_id for m in chunk]
        horizon = bot.provider.retry_horizon is not None
        if horizon:
            # The dedup of this provider forgets: note the request before it goes out, so a
            # crash or a lost reply leaves its recipients in doubt, never silently re-sent.
            with self.db.session() as session:
                conn = session.connection()
                outcomes.mark_in_doubt(conn, lease.announcement.id, ids)
                if lease.first_attempt_age is None:
                    conn.execute(_FIRST_ATTEMPT, {"batch": lease.batch_id})
            lease.first_attempt_age = lease.first_attempt_age or 0.0
        try:
            bot.transport.send_messages(chunk)
        except PermanentError as error:
            if horizon:
                # Refused as a whole: nothing ran, so these recipients are no longer in doubt.
                with self.db.session() as session:
                    outcomes.clear_doubt(session.connection(), lease.announcement.id, ids)
            if isinstance(error, Unauthorized):
                raise
            if isinstance(error, BatchRefused):
                # Declined as a whole, nobody blamed: splitting would repeat it per recipient.
                return 0, self._fail_many(lease, [by_id[m.message_id] for m in chunk], error)
            blamed = next((m for m in chunk if m.message_id == error.blamed_message_id), None)
            if blamed is not None and len(chunk) > 1:
                # The provider named the culprit: fail it alone and send the rest at once.
                failed = self._fail_one(lease, by_id[blamed.message_id], error)
                rest = [m for m in chunk if m != blamed]
                sent, more_failed = self._deliver(bot, lease, by_id, rest)
                return sent, failed + more_failed
            if len(chunk) > 1:
                # Otherwise bisect: ~2·log2(n) requests find one bad message among n. How far
                # it got is kept, so a batch parked for tokens half way goes on from there.
                self._split(lease, len(chunk))
                middle = len(chunk) // 2
                left = self._deliver(bot, lease, by_id, chunk[:middle])
                right = self._deliver(bot, lease, by_id, chunk[middle:])
                return left[0] + right[0], left[1] + right[1]
            return 0, self._fail_one(lease, by_id[chunk[0].message_id], error)
        with self.db.session() as session:
            conn = session.connection()
            sent = outcomes.record_sent(
                conn, lease.announcement.id, ids, attempt=lease.attempts, marked=horizon
            )
            return sent, 0

    def _split(self, lease: _Lease, refused: int) -> None:
        """A request of ``refused`` messages was refused as a whole: later requests of this
        batch, in this lease or the next, carry at most half as many."""
        size = (refused + 1) // 2
        if lease.split_size is not None and lease.split_size <= size:
            return
        with self.db.session() as session:
            session.connection().execute(_SPLIT, {"batch": lease.batch_id, "largest": size})
        lease.split_size = size

    def _check_still_sending(self, lease: _Lease) -> None:
        status = self.db.read_scalar(_STATUS, {"announcement": lease.announcement.id})
        if status != AnnouncementStatus.SENDING:
            raise _Stopped(status)

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

    def _fail_many(self, lease: _Lease, pending: list[Pending], error: MessagingError) -> int:
        with self.db.session() as session:
            return outcomes.record_failed(
                session.connection(),
                lease.announcement.id,
                [p.delivery_id for p in pending],
                str(error),
                attempt=lease.attempts,
            )

    @staticmethod
    def _cap(bot: BotSending, announcement: _Announcement) -> BucketSpec | None:
        if not announcement.rate_per_minute:
            return None
        return cap_spec(
            str(announcement.id),
            announcement.rate_per_minute,
            window_seconds=bot.quota.window_seconds,
        )

    def _largest_request(self, bot: BotSending, lease: _Lease) -> int:
        """The most messages one request may carry: the batch, or less where a bucket that
        counts messages (the quota of a provider that counts them, a cap) has a smaller unit."""
        cap = self._cap(bot, lease.announcement)
        specs = [bot.quota] if bot.provider.quota_unit == "messages" else []
        specs += [cap] if cap is not None else []
        return min(self.config.batch_size, max_cost(specs)) if specs else self.config.batch_size

    def _take_tokens(
        self, bot: BotSending, announcement: _Announcement, chunk: list[OutgoingMessage]
    ) -> None:
        """The bot's quota pays the provider's cost of the request (messages or requests), an
        announcement's cap the messages it carries."""
        specs, costs = [bot.quota], [bot.provider.request_cost(chunk)]
        cap = self._cap(bot, announcement)
        if cap is not None:
            specs.append(cap)
            costs.append(len(chunk))
        attempt = self.buckets.attempt(specs, costs[0], costs=costs)
        if not attempt.taken:
            raise _Throttled(max(attempt.wait_seconds, 0.01))

    def _park(self, lease: _Lease, wait: float) -> None:
        """No tokens now: give the batch back at once, due when its tokens will be there.

        A short wait keeps the batch queued (the task publishes it again with that countdown);
        a long one (a small cap) leaves it to the beat tick, in ``retry`` until then. Neither
        counts as an attempt.
        """
        if wait <= SHORT_WAIT_SECONDS:
            until = func.now() + timedelta(seconds=wait)
            self._release(
                lease, BatchState.QUEUED, None, attempts=Batch.attempts - 1, enqueued_at=until
            )
        else:
            self._release(lease, BatchState.RETRY, wait, attempts=Batch.attempts - 1)

    def _transient(
        self, bot: BotSending, lease: _Lease, error: TransientError, sent: int, failed: int
    ) -> BatchResult:
        if isinstance(error, RateLimited):
            self.buckets.penalize(bot.quota)
        if self.config.retry.exhausted(lease.attempts):
            reason = f"gave up after {lease.attempts} attempts: {error}"
            if bot.provider.retry_horizon is not None:
                # An earlier attempt may have been executed with its reply lost: nobody knows.
                return self._unknowable(lease, reason, sent, failed)
            with self.db.session() as session:
                conn = session.connection()
                rest = outcomes.pending_deliveries(conn, lease.batch_id, lease.announcement.id)
                failed += outcomes.record_failed(
                    conn,
                    lease.announcement.id,
                    [p.delivery_id for p in rest],
                    reason,
                    attempt=lease.attempts,
                )
            self._finish(lease, BatchState.FAILED, last_error=str(error)[:500])
            return BatchResult("failed", sent, failed, error=str(error))
        delay = self.config.retry.delay(lease.attempts)
        if isinstance(error, RateLimited) and error.retry_after:
            delay = max(delay, error.retry_after)
        self._release(lease, BatchState.RETRY, delay, last_error=str(error)[:500])
        return BatchResult("retry", sent, failed, delay, error=str(error))

    def _past_horizon(self, lease: _Lease, age: float) -> None:
        """The batch's first request went out ``age`` seconds ago, past the provider's retry
        horizon, and the ``mark_unknown`` policy holds: a request that got no answer must not be
        sent again (it might be executed twice). Its recipients' fate is recorded unknown; the
        rest of the batch, never sent, goes now, with a fresh horizon."""
        reason = (
            f"fate unknown: sent {age:.0f} s ago without an answer, past the provider's retry "
            "horizon; not sent again (policy mark_unknown)"
        )
        doubtful = [p for p in lease.pending if p.attempts > 0]
        with self.db.session() as session:
            conn = session.connection()
            unknown = outcomes.record_unknown(
                conn,
                lease.announcement.id,
                [p.delivery_id for p in doubtful],
                reason,
                attempt=lease.attempts,
            )
            conn.execute(_NEW_HORIZON, {"batch": lease.batch_id})
        log.warning("batch %s: %d recipients %s", lease.batch_id, unknown, reason)
        lease.pending = [p for p in lease.pending if p.attempts == 0]
        lease.first_attempt_age = None

    def _unknowable(self, lease: _Lease, reason: str, sent: int, failed: int) -> BatchResult:
        """Give up on the batch: recipients a request carried without an answer may have got
        the message (unknown), the others never went out (failed)."""
        announcement_id, attempt = lease.announcement.id, lease.attempts
        with self.db.session() as session:
            conn = session.connection()
            rest = outcomes.pending_deliveries(conn, lease.batch_id, lease.announcement.id)
            doubtful = [p.delivery_id for p in rest if p.attempts > 0]
            never_sent = [p.delivery_id for p in rest if p.attempts == 0]
            unknown = outcomes.record_unknown(
                conn, announcement_id, doubtful, reason, attempt=attempt
            )
            failed += outcomes.record_failed(
                conn, announcement_id, never_sent, reason, attempt=attempt
            )
        self._finish(lease, BatchState.FAILED, last_error=reason[:500])
        log.warning("batch %s: gave up; %d recipients' fate unknown", lease.batch_id, unknown)
        return BatchResult("unknown" if unknown else "failed", sent, failed, error=reason)

    def _hand_back(self, lease: _Lease, status: AnnouncementStatus | None) -> BatchResult:
        """The announcement is not sending: keep the batch for a resume, or close it (its unsent
        deliveries become skipped, as ``cancel`` does for the batches nobody held)."""
        self._release(lease, BatchState.PENDING, None, attempts=Batch.attempts - 1)
        if status is None or state.is_terminal(status):
            with self.db.session() as session:
                state.close_idle_batches(session, lease.announcement.id, reason="cancelled")
        return BatchResult("released")

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
