"""``blazecast listen``: one Blaze connection per Mixin bot for everything the provider pushes.

Receipts (DELIVERED / READ) are buffered and handed in bulk to the ``record_receipts`` task (or, if
the broker is unreachable, applied directly: Postgres is the truth). Users' messages are handled
in buffers too: applied to ``recipients``, answered, and only then acknowledged, so a crash before
the ack means the provider pushes them again and the idempotent handling runs once more.
"""

from __future__ import annotations

import json
import logging
import signal
import threading
import time
from collections.abc import Callable, Sequence

from kombu.exceptions import OperationalError as BrokerError
from sqlalchemy import select
from sqlalchemy.orm import Session

from models import Bot, BotProvider
from worker import bots
from worker.broadcast import incoming, receipts
from worker.config import ConfigError, Settings
from worker.messaging.errors import MessagingError, Unauthorized
from worker.messaging.mixin.blaze import BlazeClient
from worker.messaging.mixin.ids import unique_conversation_id, unique_object_id
from worker.messaging.mixin.payloads import encode_data
from worker.messaging.mixin.provider import MixinProvider
from worker.messaging.transport import IncomingMessage, OutgoingMessage, Receipt
from worker.runtime import BotRuntime, Runtime

log = logging.getLogger(__name__)

FLUSH_SECONDS = 0.25
# How often `blazecast listen` looks for bots added, disabled, halted or resumed.
RESCAN_SECONDS = 5.0
MAX_RECEIPTS_PER_TASK = 5_000


class Listener:
    """Buffers pushes from one bot's BlazeClient and flushes them every ``flush_seconds``."""

    def __init__(
        self,
        runtime: Runtime,
        bot: BotRuntime,
        publish_receipts: Callable[[list[list[str]]], None],
        *,
        flush_seconds: float = FLUSH_SECONDS,
    ) -> None:
        if not isinstance(bot.provider, MixinProvider):
            raise ConfigError(f"bot {bot.bot.name}: only Mixin bots push over Blaze")
        self.runtime = runtime
        self.bot = bot
        self.provider = bot.provider
        self.publish_receipts = publish_receipts
        self.flush_seconds = flush_seconds
        self.stop = threading.Event()
        self._lock = threading.Lock()
        self._receipts: list[list[str]] = []
        self._messages: list[IncomingMessage] = []
        self.client = BlazeClient(
            self.provider.keystore,
            self.provider.blaze_url,
            self.provider.api_url,
            on_push=self._on_push,
            subscribe=True,
            request_timeout=self.provider.timeout,
        )
        self.receipts_seen = 0

    def _on_push(self, push: Receipt | IncomingMessage) -> None:
        with self._lock:
            if isinstance(push, Receipt):
                self._receipts.append([push.message_id, push.status, push.updated_at.isoformat()])
                self.receipts_seen += 1
            else:
                self._messages.append(push)

    def run(self) -> None:
        """Listen until ``stop`` is set; raise ``Unauthorized`` if the provider rejects the bot."""
        flusher = threading.Thread(target=self._flush_loop, name="listener-flush", daemon=True)
        flusher.start()
        try:
            self.client.run_forever(self.stop)
        finally:
            self.stop.set()
            flusher.join(timeout=10)
            self.flush()
            self.client.close()

    def _flush_loop(self) -> None:
        while not self.stop.wait(self.flush_seconds):
            try:
                self.flush()
            except Exception:  # keep listening; the next flush retries what is still buffered
                log.exception("listener flush failed")

    def flush(self) -> None:
        with self._lock:
            pending_receipts, self._receipts = self._receipts, []
            pending_messages, self._messages = self._messages, []
        for start in range(0, len(pending_receipts), MAX_RECEIPTS_PER_TASK):
            self._hand_over(pending_receipts[start : start + MAX_RECEIPTS_PER_TASK])
        if pending_messages:
            self._handle(pending_messages)

    def _hand_over(self, items: list[list[str]]) -> None:
        try:
            self.publish_receipts(items)
        except BrokerError:
            log.warning("broker unreachable: applying %d receipts directly", len(items))
            from datetime import datetime

            with self.runtime.db.session() as session:
                receipts.apply_receipts(
                    session, [(m, s, datetime.fromisoformat(at)) for m, s, at in items]
                )

    def _handle(self, messages: list[IncomingMessage]) -> None:
        runtime = self.runtime
        try:
            with runtime.db.session() as session:
                replies = incoming.handle_messages(
                    session, self.bot.id, self.provider.bot_user_id, messages
                )
            if replies:
                runtime.buckets.take([self.bot.quota], len(replies), timeout=30)
                self.client.send_messages(
                    [_outgoing(self.provider.bot_user_id, r) for r in replies]
                )
            self.client.acknowledge([m.message_id for m in messages])
        except MessagingError as error:
            # Not acknowledged: the provider pushes them again after the next connect.
            log.warning("could not answer %d user messages: %s", len(messages), error)


def _outgoing(bot_user_id: str, reply: incoming.Reply) -> OutgoingMessage:
    return OutgoingMessage(
        # Always the 1:1 conversation of bot and user, whatever conversation they wrote in.
        conversation_id=unique_conversation_id(bot_user_id, reply.user_id),
        recipient_id=reply.user_id,
        message_id=unique_object_id(reply.in_reply_to, "blazecast-reply"),
        category="PLAIN_TEXT",
        data_base64=encode_data(reply.text.encode()),
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
        listener = Listener(
            runtime, runtime.bot(bot_id), lambda items: record_receipts.delay(items)
        )
        thread = threading.Thread(
            target=_listen, args=(runtime, listener), name=f"listen-{listener.bot.bot.name}"
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


def _listen(runtime: Runtime, listener: Listener) -> None:
    from worker.broadcast import state

    name = listener.bot.bot.name
    started = time.monotonic()
    log.info("listening as bot %s on %s", name, listener.provider.blaze_url)
    try:
        listener.run()
    except Unauthorized as error:
        log.error("bot %s: the provider refused its key: %s", name, error)
        with runtime.db.session() as session:
            state.halt_bot(session, listener.bot.id, f"{error.reason}: {error}")
    finally:
        log.info(
            json.dumps(
                {
                    "bot": name,
                    "receipts": listener.receipts_seen,
                    "seconds": round(time.monotonic() - started),
                }
            )
        )
