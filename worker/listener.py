"""``blazecast listen``: the bot's Blaze connection for everything the provider pushes.

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
from collections.abc import Callable

from kombu.exceptions import OperationalError as BrokerError

from worker.broadcast import incoming, receipts
from worker.config import Settings
from worker.messaging.errors import MessagingError, Unauthorized
from worker.messaging.mixin.blaze import BlazeClient
from worker.messaging.mixin.payloads import encode_data
from worker.messaging.transport import IncomingMessage, OutgoingMessage, Receipt
from worker.runtime import Runtime

log = logging.getLogger(__name__)

FLUSH_SECONDS = 0.25
MAX_RECEIPTS_PER_TASK = 5_000


class Listener:
    """Buffers pushes from one BlazeClient and flushes them every ``flush_seconds``."""

    def __init__(
        self,
        runtime: Runtime,
        publish_receipts: Callable[[list[list[str]]], None],
        *,
        flush_seconds: float = FLUSH_SECONDS,
    ) -> None:
        self.runtime = runtime
        self.publish_receipts = publish_receipts
        self.flush_seconds = flush_seconds
        self.stop = threading.Event()
        self._lock = threading.Lock()
        self._receipts: list[list[str]] = []
        self._messages: list[IncomingMessage] = []
        settings = runtime.settings
        self.client = BlazeClient(
            runtime.keystore,
            settings.mixin_blaze_url,
            settings.mixin_api_url,
            on_push=self._on_push,
            subscribe=True,
            request_timeout=settings.request_timeout,
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
                replies = incoming.handle_messages(session, runtime.bot_id, messages)
            if replies:
                runtime.buckets.take([runtime.quota], len(replies), timeout=30)
                self.client.send_messages([_outgoing(r) for r in replies])
            self.client.acknowledge([m.message_id for m in messages])
        except MessagingError as error:
            # Not acknowledged: the provider pushes them again after the next connect.
            log.warning("could not answer %d user messages: %s", len(messages), error)


def _outgoing(reply: incoming.Reply) -> OutgoingMessage:
    return OutgoingMessage(
        conversation_id=reply.conversation_id,
        recipient_id=reply.user_id,
        message_id=reply.message_id,
        category="PLAIN_TEXT",
        data_base64=encode_data(reply.text.encode()),
    )


def run_listener(settings: Settings) -> None:
    """Run until SIGINT/SIGTERM; a 401 ends it with the reason (the bot's sending is halted)."""
    from worker.broadcast import state
    from worker.celery_app import create_app, runtime_of

    app = create_app(settings)
    runtime = runtime_of(app)
    record_receipts = app.tasks["blazecast.record_receipts"]
    listener = Listener(runtime, lambda items: record_receipts.delay(items))
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: listener.stop.set())
    started = time.monotonic()
    log.info("listening as bot %s on %s", runtime.bot_id, settings.mixin_blaze_url)
    try:
        listener.run()
    except Unauthorized as error:
        import uuid

        with runtime.db.session() as session:
            state.halt_bot(session, uuid.UUID(runtime.bot_id), f"{error.reason}: {error}")
        raise
    finally:
        log.info(
            json.dumps(
                {"receipts": listener.receipts_seen, "seconds": round(time.monotonic() - started)}
            )
        )
