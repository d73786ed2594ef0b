"""Status polls: reading DELIVERED / READ back from a provider that pushes no receipts (IM REST).

The steps, each safe to run twice (STYLE 4):

1. ``plan_polls`` — once an announcement's audience is planned, pick the recipients to poll: all
   of them up to the bot's sampling threshold, else a uniform random sample of the planned
   deliveries, the ``n`` smallest sample keys (a hash of the seed, the announcement id, and the
   user id: ``ORDER BY key LIMIT n``). The sample is fixed over the whole audience before any
   poll, in one statement, so neither the send order nor the first outcomes can bias it; one
   ``status_polls`` row per sampled delivery, inserted once (``ON CONFLICT DO NOTHING``).
2. ``activate`` — a row whose delivery was sent becomes due at ``sent_at + delays[0]``; one whose
   delivery failed, was skipped or has an unknown fate is closed as ``UNSENT``.
3. ``poll_bot`` — claim due rows (``FOR UPDATE SKIP LOCKED`` and a lease, so two workers never
   poll one row at once), walk each recipient's conversation, each page paid for by a token of
   the bot's quota *and* of its polling share (never waiting: no token, the run stops and the
   rest is released), apply the statuses through the same forward-only update as Mixin receipts
   (``receipts.apply_receipts``) and schedule each row's next poll.

Only rows carry state; the provider's part (schedule, sample size, the walk) comes through
``worker.messaging.provider.StatusPolling``.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from sqlalchemy import bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY, TIMESTAMP
from sqlalchemy.orm import Session
from sqlalchemy.types import BigInteger, Text

from worker.broadcast.receipts import apply_receipts
from worker.db import Database
from worker.messaging.errors import Forbidden, InvalidData, MessagingError
from worker.messaging.provider import OutOfTokens, PolledStatus, Provider, StatusPolling
from worker.ratelimit import BucketSpec, TokenBuckets

log = logging.getLogger(__name__)

#: How long a claimed row is held; a worker that died leaves it to be claimed again after this.
LEASE_SECONDS = 60
#: Messages older than the batch's first request by more than this are not looked at (clock
#: slack between this host and the provider's).
CLOCK_SLACK_MS = 60_000
#: The statuses of a poll that found the message.
FOUND = ("UNREAD", "DELIVERED", "READ")
#: A sampled delivery that was never sent (failed, skipped, unknown): nothing to poll.
UNSENT = "UNSENT"
#: A recipient the provider refuses to show (no such user): polled no more.
UNPOLLABLE = "UNPOLLABLE"

# Announcements of polling bots whose audience is planned, that have deliveries and no poll rows
# yet (each test an index lookup). One that ended days ago without rows (sent before polling
# existed, or while no poll tick ran) is not polled any more.
_TO_PLAN = text(
    """
    SELECT a.id, a.bot_id FROM announcements a
    WHERE a.bot_id = ANY(:bots) AND a.recall_of IS NULL
      AND (a.planned OR a.status IN ('completed', 'cancelled', 'failed'))
      AND (a.completed_at IS NULL OR a.completed_at > now() - interval '2 days')
      AND NOT EXISTS (SELECT 1 FROM status_polls sp WHERE sp.announcement_id = a.id)
      AND EXISTS (SELECT 1 FROM deliveries d WHERE d.announcement_id = a.id)
    """
).bindparams(bindparam("bots", type_=ARRAY(BigInteger)))

_AUDIENCE = text("SELECT count(*) FROM deliveries WHERE announcement_id = :announcement")

# The sample key of ``worker.messaging.imrest.sampling.sample_key``, in SQL.
_SAMPLE = text(
    """
    INSERT INTO status_polls (delivery_id, announcement_id, bot_id)
    SELECT d.id, d.announcement_id, :bot
    FROM deliveries d JOIN recipients r ON r.id = d.recipient_id
    WHERE d.announcement_id = :announcement
    ORDER BY ('x' || substr(encode(sha256(convert_to(:prefix || r.user_id, 'UTF8')), 'hex'),
                            1, 16))::bit(64)::bigint & 9223372036854775807, d.id
    LIMIT :size
    ON CONFLICT DO NOTHING
    """
)

_ACTIVATE = text(
    """
    UPDATE status_polls sp
    SET next_poll_at = CASE WHEN d.sent_at IS NOT NULL
                            THEN d.sent_at + make_interval(secs => :first) END,
        status = CASE WHEN d.sent_at IS NULL THEN :unsent END
    FROM deliveries d
    WHERE sp.bot_id = :bot AND sp.status IS NULL AND sp.next_poll_at IS NULL
      AND d.id = sp.delivery_id
      AND (d.sent_at IS NOT NULL OR d.state IN ('failed', 'skipped', 'unknown'))
    """
)

_CLAIM = text(
    """
    WITH due AS (
        SELECT delivery_id FROM status_polls
        WHERE bot_id = :bot AND next_poll_at <= now()
          AND (lease_until IS NULL OR lease_until < now())
        ORDER BY next_poll_at
        LIMIT :limit
        FOR UPDATE SKIP LOCKED
    )
    UPDATE status_polls sp
    SET lease_until = now() + make_interval(secs => :lease)
    FROM due, deliveries d, recipients r
    WHERE sp.delivery_id = due.delivery_id AND d.id = sp.delivery_id AND r.id = d.recipient_id
    RETURNING sp.delivery_id, sp.announcement_id, d.message_id, r.user_id,
              extract(epoch FROM d.sent_at) AS sent_at,
              extract(epoch FROM coalesce(
                  (SELECT b.first_attempt_at FROM batches b WHERE b.id = d.batch_id), d.sent_at
              )) AS first_attempt_at
    """
)

_RECORD = text(
    """
    UPDATE status_polls sp
    SET polls = sp.polls + 1, status = r.status, msg_id = coalesce(r.msg_id, sp.msg_id),
        next_poll_at = r.next_poll_at, lease_until = NULL
    FROM unnest(:ids, :statuses, :msg_ids, :next_at) AS r(delivery_id, status, msg_id, next_poll_at)
    WHERE sp.delivery_id = r.delivery_id
    """
).bindparams(
    bindparam("ids", type_=ARRAY(BigInteger)),
    bindparam("statuses", type_=ARRAY(Text)),
    bindparam("msg_ids", type_=ARRAY(BigInteger)),
    bindparam("next_at", type_=ARRAY(TIMESTAMP(timezone=True))),
)

_RELEASE = text(
    "UPDATE status_polls SET lease_until = NULL WHERE delivery_id = ANY(:ids)"
).bindparams(bindparam("ids", type_=ARRAY(BigInteger)))

_DUE_BOTS = text(
    """
    SELECT DISTINCT bot_id FROM status_polls
    WHERE bot_id = ANY(:bots) AND next_poll_at <= now()
      AND (lease_until IS NULL OR lease_until < now())
    """
).bindparams(bindparam("bots", type_=ARRAY(BigInteger)))


class BotPolling(Protocol):
    """What polling needs of one bot in this process (``worker.runtime.BotRuntime``)."""

    id: int
    provider: Provider
    quota: BucketSpec
    poll_share: BucketSpec | None


@dataclass(frozen=True)
class Due:
    """A claimed row: whose conversation to walk, and for what."""

    delivery_id: int
    announcement_id: uuid.UUID
    message_id: str
    user_id: str
    sent_at: float
    first_attempt_at: float


@dataclass
class PollRun:
    """What one ``poll_bot`` did: rows claimed, polled, and why it stopped early if it did."""

    claimed: int = 0
    polled: int = 0
    delivered: int = 0
    read: int = 0
    stopped: str | None = None
    errors: dict[str, int] = field(default_factory=dict)


def plan_polls(session: Session, polling: dict[int, StatusPolling]) -> int:
    """Create the poll rows of every planned announcement of the ``polling`` bots that has none;
    returns how many announcements got them."""
    if not polling:
        return 0
    planned = 0
    for announcement_id, bot_id in session.execute(_TO_PLAN, {"bots": list(polling)}).all():
        provider = polling[bot_id]
        audience = session.execute(_AUDIENCE, {"announcement": announcement_id}).scalar_one()
        size = provider.sample_size(int(audience))
        session.execute(
            _SAMPLE,
            {
                "bot": bot_id,
                "announcement": announcement_id,
                "prefix": provider.sample_prefix(str(announcement_id)),
                "size": size,
            },
        )
        planned += 1
        log.info("announcement %s: polling %d of %d recipients", announcement_id, size, audience)
    return planned


def activate(session: Session, bot_id: int, polling: StatusPolling) -> int:
    """Make the rows of sent deliveries due (and close those never sent); how many changed."""
    result = session.execute(
        _ACTIVATE, {"bot": bot_id, "first": polling.delays[0], "unsent": UNSENT}
    )
    return int(getattr(result, "rowcount", 0) or 0)


def bots_due(session: Session, bot_ids: Iterable[int]) -> list[int]:
    """The bots among ``bot_ids`` with rows due and not leased."""
    return sorted(session.execute(_DUE_BOTS, {"bots": list(bot_ids)}).scalars())


def prepare(session: Session, polling: dict[int, StatusPolling]) -> list[int]:
    """The periodic step: plan, activate; the bots with polls due."""
    plan_polls(session, polling)
    for bot_id, provider in polling.items():
        activate(session, bot_id, provider)
    return bots_due(session, polling)


def claim(session: Session, bot_id: int, limit: int) -> list[Due]:
    rows = session.execute(_CLAIM, {"bot": bot_id, "limit": limit, "lease": LEASE_SECONDS})
    return [
        Due(
            r.delivery_id,
            r.announcement_id,
            str(r.message_id),
            r.user_id,
            float(r.sent_at),
            float(r.first_attempt_at),
        )
        for r in rows
    ]


def poll_bot(
    db: Database,
    bot: BotPolling,
    buckets: TokenBuckets,
    *,
    limit: int = 200,
    seconds: float = 5.0,
    clock: Callable[[], float] = time.time,
) -> PollRun:
    """Poll up to ``limit`` due rows of ``bot`` for at most about ``seconds``; never waits for
    tokens: the run ends when the polling share or the quota has none left."""
    polling = bot.provider.status_polling
    run = PollRun()
    if polling is None or bot.poll_share is None:
        return run
    specs = [bot.quota, bot.poll_share]
    # The first page's token is taken before claiming: with none, nothing is claimed (rather
    # than claimed and released). A bucket Redis does not hold yet starts on a take, not a peek.
    prepaid = [buckets.attempt(specs, 1).taken]
    if not prepaid[0]:
        run.stopped = "tokens"
        return run
    with db.session() as session:
        due = claim(session, bot.id, limit)
    run.claimed = len(due)
    if not due:
        return run

    def take_page() -> bool:
        if prepaid:
            return prepaid.pop()
        return buckets.attempt(specs, 1).taken

    results: list[tuple[Due, PolledStatus, float]] = []
    deadline = time.monotonic() + seconds
    poller = polling.open_poller()
    try:
        for item in due:
            if time.monotonic() > deadline:
                run.stopped = "time"
                break
            try:
                since_ms = int(item.first_attempt_at * 1000) - CLOCK_SLACK_MS
                seen = poller.poll(
                    item.user_id, str(item.announcement_id), since_ms=since_ms, take_page=take_page
                )
            except OutOfTokens:
                run.stopped = "tokens"
                break
            except (Forbidden, InvalidData) as error:
                # This recipient cannot be polled (no such user, say): stop polling them.
                _count(run, error)
                results.append((item, PolledStatus(UNPOLLABLE, None, None), -1.0))
                continue
            except MessagingError as error:
                # The provider is in trouble, or refuses the bot: leave the rest for later.
                _count(run, error)
                run.stopped = f"error: {type(error).__name__}"
                log.warning("bot %s: status polling stopped: %s", bot.id, error)
                break
            results.append((item, seen, clock()))
    finally:
        poller.close()
        _record(db, due, results, polling, run)
    return run


def _record(
    db: Database,
    due: list[Due],
    results: list[tuple[Due, PolledStatus, float]],
    polling: StatusPolling,
    run: PollRun,
) -> None:
    """One transaction: the receipts, each row's status and next poll, the rest released."""
    done = {item.delivery_id for item, _, _ in results}
    receipts: list[tuple[str, str, datetime]] = []
    ids, statuses, msg_ids, next_at = [], [], [], []
    for item, seen, polled_at in results:
        following = None
        if polled_at >= 0:
            run.polled += 1
            if seen.receipt is not None:
                receipts.append((item.message_id, seen.receipt, _at(polled_at)))
            after = polling.next_poll(item.sent_at, polled_at, seen.status)
            following = _at(after) if after is not None else None
        ids.append(item.delivery_id)
        statuses.append(seen.status)
        msg_ids.append(seen.msg_id)
        next_at.append(following)
    with db.session() as session:
        if receipts:
            applied = apply_receipts(session, receipts)
            run.delivered, run.read = applied.newly_delivered, applied.newly_read
        if ids:
            session.execute(
                _RECORD, {"ids": ids, "statuses": statuses, "msg_ids": msg_ids, "next_at": next_at}
            )
        left = [item.delivery_id for item in due if item.delivery_id not in done]
        if left:
            session.execute(_RELEASE, {"ids": left})


def _count(run: PollRun, error: Exception) -> None:
    name = type(error).__name__
    run.errors[name] = run.errors.get(name, 0) + 1


def _at(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)
