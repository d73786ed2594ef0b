"""The receipts journal: a Redis stream per bot between the listener and Postgres.

The provider pushes each DELIVERED / READ receipt once and never again, so a receipt read from the
socket must be durable at once. The listener appends each burst to the bot's stream (``append``:
one pipelined round trip; Redis runs with an append-only file, see ``worker/embedded.py``), and
``record`` applies the stream to Postgres through a consumer group:

    XREADGROUP (or XAUTOCLAIM what a dead recorder left pending) -> apply_receipts -> commit
    -> XACK + XDEL

An entry leaves the stream only after the transaction that applied it committed. A recorder
killed in between leaves its entries pending in the group; the next ``record`` claims them once
they have been idle ``CLAIM_IDLE_MS`` and applies them again, which is harmless: receipts move a
delivery forward only (DESIGN invariant 6). An entry that Postgres refuses (bad data that the edge
let through) is moved to the ``:rejected`` stream on its own, never failing the entries beside it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

import redis
from sqlalchemy.exc import DataError, IntegrityError

from worker.broadcast import receipts
from worker.db import Database

log = logging.getLogger(__name__)

Receipt = receipts.Receipt
Entries = list[tuple[bytes, dict[bytes, bytes]]]

STREAM_PREFIX = "blazecast:receipts:"
#: The bots whose listener wrote a stream, for the beat's safety-net ``record_receipts``.
BOTS_KEY = "blazecast:receipt-bots"
GROUP = "recorders"
#: Receipts per stream entry: a burst is cut in entries of at most this many.
ENTRY_RECEIPTS = 1_000
#: Receipts applied per transaction, at least (unless the stream holds fewer): the listener
#: appends whatever arrived during its last round trip, often a few receipts per entry, and one
#: set-based UPDATE per few thousand receipts is what keeps Postgres fast.
BUFFER_RECEIPTS = 5_000
#: Entries per XAUTOCLAIM, and per first XREADGROUP of a buffer (later reads size themselves on
#: the entries seen, so that a transaction holds about BUFFER_RECEIPTS receipts).
READ_ENTRIES = 5
MAX_READ_ENTRIES = 500
#: A pending entry idle this long belongs to a recorder presumed dead: another one claims it.
CLAIM_IDLE_MS = 10_000
#: Life of the "recording enqueued" flag: a published ``record_receipts`` that got lost (a broker
#: restart) holds up the next one this long at most; beat asks every second anyway.
ENQUEUED_SECONDS = 5
#: Entries kept for inspection in the rejected stream.
REJECTED_KEEP = 10_000
_STATUS_CODES = {"DELIVERED": "D", "READ": "R"}
_STATUSES = {code: status for status, code in _STATUS_CODES.items()}


def stream_key(bot_id: str) -> str:
    return f"{STREAM_PREFIX}{bot_id}"


def record_enqueued_key(bot_id: str) -> str:
    """Set while a ``record_receipts`` for the bot waits in the queue (one is enough)."""
    return f"blazecast:record-enqueued:{bot_id}"


def journaled_bots(client: redis.Redis) -> list[str]:
    return sorted(m.decode() if isinstance(m, bytes) else str(m) for m in client.smembers(BOTS_KEY))


def encode(batch: Sequence[Receipt]) -> bytes:
    """One entry's payload: ``message_id status-letter ISO-time`` lines.

    ISO rather than whole microseconds, which are cheaper to write but several times dearer to
    read: the recorder, which reads every line, is the one that has to keep up
    (docs/decisions/0001)."""
    return "\n".join(
        f"{message_id} {_STATUS_CODES[status]} {at if isinstance(at, str) else at.isoformat()}"
        for message_id, status, at in batch
    ).encode()


def decode(payload: bytes) -> list[Receipt]:
    """The receipts of one entry, their times as the ISO text written (checked, not converted:
    Postgres reads the text); a line that does not parse is skipped (and logged)."""
    parsed: list[Receipt] = []
    for line in payload.decode("utf-8", errors="replace").splitlines():
        try:
            message_id, code, at = line.split(" ")
            datetime.fromisoformat(at)
            parsed.append((message_id, _STATUSES[code], at))
        except (ValueError, KeyError):
            log.warning("receipts journal: skipping an unreadable line %r", line[:100])
    return parsed


class ReceiptJournal:
    """The listener's side: append receipts to its bot's stream, and flag that a recording is
    wanted (``record_enqueued_key``) in the same round trip."""

    def __init__(self, client: redis.Redis, bot_id: str, stream: str | None = None) -> None:
        self.client = client
        self.bot_id = bot_id
        self.stream = stream or stream_key(bot_id)

    def append(self, batch: Sequence[Receipt], *, ask: bool = False) -> bool:
        """Append ``batch`` durably (one round trip); raises ``redis.RedisError`` if Redis did not
        take it, in which case nothing of it may be assumed stored.

        With ``ask``, the same round trip also sets the bot's "recording enqueued" flag; True
        means it was not set yet, so the caller publishes a ``record_receipts``."""
        if not ask and 0 < len(batch) <= ENTRY_RECEIPTS:
            # Most appends: one entry, no pipeline to build.
            self.client.xadd(self.stream, {"r": encode(batch)})
            return False
        pipe = self.client.pipeline(transaction=False)
        for start in range(0, len(batch), ENTRY_RECEIPTS):
            pipe.xadd(self.stream, {"r": encode(batch[start : start + ENTRY_RECEIPTS])})
        if ask:
            self._flag(pipe)
        if not len(pipe):
            return False
        replies = pipe.execute()
        return bool(ask and replies[-1])

    def ask(self) -> bool:
        """Set the "recording enqueued" flag alone; True if a ``record_receipts`` is to be
        published (the flag was not set)."""
        return self.append([], ask=True)

    def _flag(self, pipe: Any) -> None:
        # The set of bots lets beat's safety net find this stream; the flag (it expires in case
        # the published task is lost) keeps one recording in the queue per bot, not one per ask.
        pipe.sadd(BOTS_KEY, self.bot_id)
        pipe.set(record_enqueued_key(self.bot_id), 1, nx=True, ex=ENQUEUED_SECONDS)


@dataclass
class Recorded:
    entries: int = 0
    receipts: int = 0
    delivered: int = 0
    read: int = 0
    claimed: int = 0
    rejected: int = 0


def ensure_group(client: redis.Redis, stream: str) -> None:
    try:
        # id 0: a group created after entries were appended still reads them all.
        client.xgroup_create(stream, GROUP, id="0", mkstream=True)
    except redis.ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


def record(
    client: redis.Redis,
    database: Database,
    stream: str,
    consumer: str,
    *,
    budget_seconds: float = 20.0,
    claim_idle_ms: int = CLAIM_IDLE_MS,
    clock: Callable[[], float] = time.monotonic,
) -> Recorded:
    """Apply the stream to Postgres until it is empty or ``budget_seconds`` are spent."""
    done = Recorded()
    deadline = clock() + budget_seconds
    claim_from: str | None = "0-0"
    while clock() < deadline:
        entries: Entries = []
        if claim_from is not None:
            # Entries a dead recorder read and never acknowledged.
            try:
                claim_from_next, entries, _ = _autoclaim(
                    client, stream, consumer, claim_idle_ms, claim_from
                )
            except redis.ResponseError as exc:
                # The group is made on first use (and again after Redis lost it), not checked
                # on every recording: that was one more round trip per run.
                if "NOGROUP" not in str(exc):
                    raise
                ensure_group(client, stream)
                continue
            claim_from = None if claim_from_next in ("0-0", b"0-0") else claim_from_next
            done.claimed += len(entries)
        if not entries:
            entries = _read(client, stream, consumer)
        if not entries:
            if claim_from is None:
                break
            continue
        _apply_entries(client, database, stream, entries, done)
    return done


def _read(client: redis.Redis, stream: str, consumer: str) -> Entries:
    """New entries, read until they hold ``BUFFER_RECEIPTS`` receipts or the stream is drained."""
    entries: Entries = []
    receipts_read, count = 0, READ_ENTRIES
    while receipts_read < BUFFER_RECEIPTS:
        reply: Any = client.xreadgroup(GROUP, consumer, {stream: ">"}, count=count)
        got = cast(Entries, reply[0][1]) if reply else []
        if not got:
            break
        entries += got
        receipts_read += sum(fields.get(b"r", b"").count(b"\n") + 1 for _, fields in got)
        per_entry = receipts_read / len(entries)
        count = max(1, min(MAX_READ_ENTRIES, round((BUFFER_RECEIPTS - receipts_read) / per_entry)))
    return entries


def _autoclaim(
    client: redis.Redis, stream: str, consumer: str, idle_ms: int, start: str
) -> tuple[str, Entries, list[bytes]]:
    reply: Any = client.xautoclaim(
        stream, GROUP, consumer, idle_ms, start_id=start, count=READ_ENTRIES
    )
    next_id = reply[0].decode() if isinstance(reply[0], bytes) else str(reply[0])
    # Entries deleted meanwhile come back as (id, None); they have nothing left to apply.
    claimed = [(entry_id, fields) for entry_id, fields in reply[1] if fields]
    deleted = [entry_id for entry_id, fields in reply[1] if not fields]
    if deleted:
        client.xack(stream, GROUP, *deleted)
    return next_id, claimed, deleted


def _apply_entries(
    client: redis.Redis,
    database: Database,
    stream: str,
    entries: Entries,
    done: Recorded,
) -> None:
    batches = [(entry_id, decode(fields.get(b"r", b""))) for entry_id, fields in entries]
    try:
        _apply(database, [r for _, batch in batches for r in batch], done)
    except (DataError, IntegrityError):
        # Isolate: entry by entry, so that one bad receipt never holds up its neighbours.
        for entry_id, batch in batches:
            try:
                _apply(database, batch, done)
            except (DataError, IntegrityError) as exc:
                done.rejected += 1
                log.error(
                    "receipts journal: entry %s refused by Postgres (%s); moved to %s:rejected",
                    entry_id,
                    type(exc.orig).__name__,
                    stream,
                )
                client.xadd(
                    f"{stream}:rejected",
                    {"r": encode(batch)},
                    maxlen=REJECTED_KEEP,
                    approximate=True,
                )
    ids = [entry_id for entry_id, _ in entries]
    pipe = client.pipeline(transaction=True)
    pipe.xack(stream, GROUP, *ids)
    pipe.xdel(stream, *ids)
    pipe.execute()
    done.entries += len(ids)


def _apply(database: Database, batch: list[Receipt], done: Recorded) -> None:
    with database.session() as session:
        applied = receipts.apply_receipts(session, batch)
    done.receipts += applied.received
    done.delivered += applied.newly_delivered
    done.read += applied.newly_read
