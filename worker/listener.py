"""``blazecast listen``: one Blaze connection per Mixin bot for everything the provider pushes.

One ``Listener`` serves one bot, from the parts it is given (``ListenerParts``): nothing global;
``run_listener`` runs one per bot, each in its own thread. Three threads besides the socket's own:

- **receipts** (DELIVERED / READ): appended to the bot's receipts journal in Redis as soon as they
  are read, one round trip per burst (``worker.broadcast.receipt_journal``); a ``record_receipts``
  is asked for at most every ``ASK_SECONDS``, in the same round trip as an append. The provider
  never pushes a receipt twice, so this path never waits on anything else. Redis unreachable:
  applied straight to Postgres (the truth) instead.
- **messages** (users' hello, /stop, /start), every ``flush_seconds``: applied to ``recipients``,
  their replies stored in the outbox, and only then acknowledged; a crash before the
  acknowledgement means the provider pushes them again and the idempotent handling runs again.
- **replies**: the outbox sent within the bot's quota (``worker.reply_outbox``).
"""

from __future__ import annotations

import json
import logging
import signal
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import redis
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from models import Bot, BotProvider
from worker import bots
from worker.broadcast import incoming, receipt_journal, receipts
from worker.config import ConfigError, Settings
from worker.db import Database
from worker.messaging.errors import MessagingError, Unauthorized
from worker.messaging.mixin.blaze import BlazeClient
from worker.messaging.mixin.ids import unique_conversation_id, unique_object_id
from worker.messaging.mixin.keystore import Keystore
from worker.messaging.mixin.payloads import encode_data
from worker.messaging.mixin.provider import MixinProvider
from worker.messaging.transport import IncomingMessage, OutgoingMessage, Receipt
from worker.ratelimit import BucketSpec, TokenBuckets
from worker.reply_outbox import ReplyOutbox
from worker.runtime import BotRuntime, Runtime

log = logging.getLogger(__name__)

FLUSH_SECONDS = 0.25
# How often `blazecast listen` looks for bots added, disabled, halted or resumed.
RESCAN_SECONDS = 5.0
#: How long a burst of receipts may gather before it is appended to the journal.
COALESCE_SECONDS = 0.005
#: Least time between two asks for a recording. An ask publishes a Celery message and each
#: recording is a task and a transaction of its own, so a recording every quarter of a second
#: applies a few thousand receipts at a time (docs/decisions/0001). The receipts are durable in the
#: journal meanwhile: this delays applying them, it does not widen what a crash loses. An ask owed
#: at the end of a burst is made once the interval has passed.
ASK_SECONDS = 0.25
#: Receipts held in memory while neither Redis nor Postgres takes them; beyond, reading stops
#: (the socket's push buffer fills and the connection is dropped rather than grow for ever).
MAX_BUFFERED_RECEIPTS = 200_000
#: User messages held for another try when Postgres or the acknowledgement failed.
MAX_BUFFERED_MESSAGES = 10_000
RETRY_SECONDS = 0.5


@dataclass(frozen=True)
class ListenerParts:
    """Everything one bot's listener needs, passed in explicitly."""

    #: The bot's row id (``bots.id``): its recipients, its receipts journal, its outbox.
    bot: int
    #: The bot's Mixin user id (its keystore's ``app_id``).
    bot_user_id: str
    keystore: Keystore
    quota: BucketSpec
    blaze_url: str
    api_url: str
    database: Database
    redis: redis.Redis
    buckets: TokenBuckets
    #: Publishes a ``record_receipts`` for the bot, when the journal says none is queued; best
    #: effort (beat asks every second anyway).
    ask_recording: Callable[[], None]
    request_timeout: float = 5.0
    #: The bot's receipts stream (default: ``receipt_journal.stream_key(str(bot))``).
    stream: str | None = None
    name: str = ""


class Listener:
    """Serves one bot: journals receipts, handles users' messages, sends the replies."""

    def __init__(
        self,
        parts: ListenerParts,
        *,
        flush_seconds: float = FLUSH_SECONDS,
        client: BlazeClient | None = None,
    ) -> None:
        self.parts = parts
        self.flush_seconds = flush_seconds
        self.stop = threading.Event()
        self._receipts: list[receipt_journal.Receipt] = []
        self._receipts_ready = threading.Condition()
        self._messages: list[IncomingMessage] = []
        self._messages_lock = threading.Lock()
        self.client = client or BlazeClient(
            parts.keystore,
            parts.blaze_url,
            parts.api_url,
            on_push=self._on_push,
            subscribe=True,
            request_timeout=parts.request_timeout,
        )
        self.journal = receipt_journal.ReceiptJournal(parts.redis, str(parts.bot), parts.stream)
        self.outbox = ReplyOutbox(
            parts.redis, str(parts.bot), self.client, parts.buckets, parts.quota
        )
        self._asked_at = -ASK_SECONDS
        #: Receipts were appended since the last ask: one is made once ASK_SECONDS have passed.
        self._ask_owed = False
        self.receipts_seen = 0
        self.receipts_stored = 0
        self.messages_acknowledged = 0

    def _on_push(self, push: Receipt | IncomingMessage) -> None:
        if isinstance(push, Receipt):
            with self._receipts_ready:
                while len(self._receipts) >= MAX_BUFFERED_RECEIPTS and not self.stop.is_set():
                    self._receipts_ready.wait(RETRY_SECONDS)
                self._receipts.append((push.message_id, push.status, push.updated_at))
                self.receipts_seen += 1
                if len(self._receipts) == 1:  # the writer waits only on an empty buffer
                    self._receipts_ready.notify_all()
        else:
            with self._messages_lock:
                self._messages.append(push)

    def run(self) -> None:
        """Listen until ``stop`` is set; raise ``Unauthorized`` if the provider rejects the bot."""
        threads = [
            threading.Thread(target=self._receipts_loop, name="listener-receipts", daemon=True),
            threading.Thread(target=self._messages_loop, name="listener-messages", daemon=True),
            threading.Thread(
                target=self.outbox.run, args=(self.stop,), name="listener-replies", daemon=True
            ),
        ]
        for thread in threads:
            thread.start()
        try:
            self.client.run_forever(self.stop)
        finally:
            self.stop.set()
            self.outbox.wake.set()
            with self._receipts_ready:
                self._receipts_ready.notify_all()
            for thread in threads:
                thread.join(timeout=10)
            self.store_receipts()
            self.handle_messages()
            self.client.close()

    # -- receipts ---------------------------------------------------------------------------

    def _receipts_loop(self) -> None:
        while not self.stop.is_set():
            with self._receipts_ready:
                if not self._receipts:
                    self._receipts_ready.wait(self._idle_wait())
                    if not self._receipts:
                        self._ask_if_owed()
                        continue
            # Let the burst gather for a few milliseconds: one append per receipt or two costs
            # the listener and Redis several times the CPU, for a window barely longer. A plain
            # sleep (a stop is noticed right after it): waiting on the event costs twice the CPU,
            # 200 times a second at full speed.
            time.sleep(COALESCE_SECONDS)
            if not self.store_receipts():
                self.stop.wait(RETRY_SECONDS)

    def _idle_wait(self) -> float:
        if not self._ask_owed:
            return self.flush_seconds
        return max(0.0, self._asked_at + ASK_SECONDS - time.monotonic())

    def store_receipts(self) -> bool:
        """Journal what is buffered (or apply it to Postgres); False if nothing took it."""
        with self._receipts_ready:
            batch, self._receipts = self._receipts, []
        if not batch:
            return True
        now = time.monotonic()
        ask = now - self._asked_at >= ASK_SECONDS
        try:
            publish = self.journal.append(batch, ask=ask)
        except redis.RedisError as exc:
            log.warning("Redis unreachable (%s): applying %d receipts directly", exc, len(batch))
            try:
                with self.parts.database.session() as session:
                    receipts.apply_receipts(session, batch)
            except SQLAlchemyError as db_exc:
                log.error("Postgres unreachable too (%s): keeping %d receipts", db_exc, len(batch))
                with self._receipts_ready:
                    self._receipts[:0] = batch
                return False
        else:
            self._asked(ask, now, publish)
        self.receipts_stored += len(batch)
        return True

    def _ask_if_owed(self) -> None:
        now = time.monotonic()
        if not self._ask_owed or now - self._asked_at < ASK_SECONDS:
            return
        try:
            publish = self.journal.ask()
        except redis.RedisError as exc:  # beat's safety net records the journal anyway
            log.warning("could not ask for the receipts to be recorded: %s", exc)
            publish = False
        self._asked(True, now, publish)

    def _asked(self, asked: bool, now: float, publish: bool) -> None:
        # One queued recording drains whatever is appended until it runs.
        if not asked:
            self._ask_owed = True
            return
        self._asked_at, self._ask_owed = now, False
        if publish:
            try:
                self.parts.ask_recording()
            except Exception as exc:  # beat's safety net records the journal anyway
                log.warning("could not ask for the receipts to be recorded: %s", exc)

    # -- users' messages --------------------------------------------------------------------

    def _messages_loop(self) -> None:
        while not self.stop.wait(self.flush_seconds):
            self.handle_messages()

    def handle_messages(self) -> None:
        """Apply buffered user messages, store their replies, then acknowledge them."""
        with self._messages_lock:
            batch, self._messages = self._messages, []
        if not batch:
            return
        try:
            with self.parts.database.session() as session:
                replies = incoming.handle_messages(
                    session, self.parts.bot, self.parts.bot_user_id, batch
                )
            self.outbox.put([_outgoing(self.parts.bot_user_id, r) for r in replies])
            self.client.acknowledge([m.message_id for m in batch])
            self.messages_acknowledged += len(batch)
        except (SQLAlchemyError, redis.RedisError, MessagingError) as exc:
            # Kept for the next flush (handling is idempotent); past the bound, left to the
            # provider, which pushes unacknowledged messages again on the next connect.
            log.warning("could not handle %d user messages yet: %s", len(batch), exc)
            with self._messages_lock:
                self._messages[:0] = batch[: max(0, MAX_BUFFERED_MESSAGES - len(self._messages))]


def _outgoing(bot_user_id: str, reply: incoming.Reply) -> OutgoingMessage:
    return OutgoingMessage(
        # Always the 1:1 conversation of bot and user, whatever conversation they wrote in.
        conversation_id=unique_conversation_id(bot_user_id, reply.user_id),
        recipient_id=reply.user_id,
        message_id=unique_object_id(reply.in_reply_to, "blazecast-reply"),
        category="PLAIN_TEXT",
        data_base64=encode_data(reply.text.encode()),
    )


def listener_parts(runtime: Runtime, bot: BotRuntime, record_receipts: object) -> ListenerParts:
    """The parts of ``bot``'s listener from this process's runtime."""
    if not isinstance(bot.provider, MixinProvider):
        raise ConfigError(f"bot {bot.bot.name}: only Mixin bots push over Blaze")
    provider = bot.provider
    key = str(bot.id)

    def ask_recording() -> None:
        record_receipts.delay(key)  # type: ignore[attr-defined]

    return ListenerParts(
        bot=bot.id,
        bot_user_id=provider.bot_user_id,
        keystore=provider.keystore,
        quota=bot.quota,
        blaze_url=provider.blaze_url,
        api_url=provider.api_url,
        database=runtime.db,
        redis=runtime.redis,
        buckets=runtime.buckets,
        ask_recording=ask_recording,
        request_timeout=provider.timeout,
        name=bot.bot.name,
    )


def run_listener(
    settings: Settings, bot_names: Sequence[str] = (), *, rescan_seconds: float = RESCAN_SECONDS
) -> None:
    """Listen for every enabled Mixin bot (or only those named) until SIGINT/SIGTERM, one Blaze
    connection and thread each.

    A bot whose key cannot be read when the command starts stops it with one line. Without names,
    the bots are looked up again every ``rescan_seconds``: a bot added (or resumed after a halt)
    gets a connection, a disabled or halted one loses it. A 401 halts that bot's sending with the
    reason and ends its connection; with names, the command ends when every named bot's has.
    """
    from worker.celery_app import create_app, runtime_of

    app = create_app(settings)
    runtime = runtime_of(app)
    record_receipts = app.tasks["blazecast.record_receipts"]
    running: dict[int, tuple[Listener, threading.Thread]] = {}

    def start(bot_id: int) -> None:
        listener = Listener(listener_parts(runtime, runtime.bot(bot_id), record_receipts))
        thread = threading.Thread(
            target=_listen, args=(listener,), name=f"listen-{listener.parts.name}"
        )
        thread.start()
        running[bot_id] = (listener, thread)

    def wanted() -> set[int]:
        with runtime.db.session() as session:
            return set(listening_bots(session, settings, bot_names))

    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    try:
        for bot_id in sorted(wanted()):
            start(bot_id)
        while not stop.wait(rescan_seconds if not bot_names else 0.5):
            alive = {b for b, (_, thread) in running.items() if thread.is_alive()}
            if bot_names:
                if not alive:
                    break
                continue
            current = wanted()
            for bot_id in alive - current:
                running[bot_id][0].stop.set()
            for bot_id in sorted(current - alive):
                try:
                    start(bot_id)
                except (ConfigError, ValueError) as error:  # a bad key: the others go on
                    log.error("cannot listen for bot %s: %s", bot_id, error)
    finally:
        for listener, _ in running.values():
            listener.stop.set()
        for _, thread in running.values():
            thread.join(timeout=15)


def listening_bots(session: Session, settings: Settings, names: Sequence[str]) -> list[int]:
    """The ids of the Mixin bots to listen for: those named, or every enabled one that is not
    halted (the default bot when there is none at all)."""
    if names:
        return [bots.resolve_bot(session, settings, name).id for name in names]
    found = list(
        session.execute(
            select(Bot.id).where(
                Bot.provider == BotProvider.MIXIN,
                Bot.disabled_at.is_(None),
                Bot.halted_reason.is_(None),
            )
        ).scalars()
    )
    if not found and session.execute(select(Bot.id).limit(1)).first() is None:
        found = [bots.resolve_bot(session, settings).id]
    return found


def _listen(listener: Listener) -> None:
    from worker.broadcast import state

    parts = listener.parts
    started = time.monotonic()
    log.info("listening as bot %s on %s", parts.name, parts.blaze_url)
    try:
        listener.run()
    except Unauthorized as error:
        log.error("bot %s: the provider refused its key: %s", parts.name, error)
        with parts.database.session() as session:
            state.halt_bot(session, parts.bot, f"{error.reason}: {error}")
    finally:
        log.info(
            json.dumps(
                {
                    "bot": parts.name,
                    "receipts": listener.receipts_seen,
                    "replies_sent": listener.outbox.sent,
                    "seconds": round(time.monotonic() - started),
                }
            )
        )
