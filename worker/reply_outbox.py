"""The listener's replies to users (welcome, /stop, /start): a durable outbox, sent within quota.

Users' messages are acknowledged as soon as they are applied and their replies are in the outbox
(a Redis stream per bot), never after the replies went out: a wave of /stop after a broadcast
must not wait for tokens, and a message that is not acknowledged is pushed again. A sender thread
drains the outbox in requests of at most 100 messages, each only once the bot's quota bucket
granted its tokens (replies count against the quota like announcements; DESIGN invariant 4). It
never sleeps on tokens for long, so that stopping is prompt, and it never blocks the receipts.

Reply ids derive from the incoming message, so a reply sent twice (a crash between sending and
deleting it from the outbox) is shown once.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import Protocol, cast

import redis

from worker.messaging.errors import MessagingError, PermanentError, Unauthorized
from worker.messaging.transport import OutgoingMessage
from worker.ratelimit import BucketSpec, TokenBuckets, max_cost

log = logging.getLogger(__name__)

#: Messages per request: the provider's limit (DESIGN invariant 3).
MAX_PER_REQUEST = 100
#: Longest single sleep of the sender thread (waiting for tokens, backing off, idling).
MAX_NAP_SECONDS = 0.5


Entries = list[tuple[bytes, dict[bytes, bytes]]]


def outbox_key(bot_id: str) -> str:
    return f"blazecast:replies:{bot_id}"


class Sender(Protocol):
    def send_messages(self, messages: Sequence[OutgoingMessage]) -> None: ...


class ReplyOutbox:
    """The bot's outbox: ``put`` from the message handler, ``run`` in the sender thread."""

    def __init__(
        self,
        client: redis.Redis,
        bot_id: str,
        sender: Sender,
        buckets: TokenBuckets,
        quota: BucketSpec,
    ) -> None:
        self.client = client
        self.key = outbox_key(bot_id)
        self.sender = sender
        self.buckets = buckets
        self.quota = quota
        self.wake = threading.Event()
        self.sent = 0
        self.dropped = 0

    def put(self, replies: Sequence[OutgoingMessage]) -> None:
        """Store ``replies`` durably (one round trip); raises ``redis.RedisError`` otherwise."""
        if not replies:
            return
        pipe = self.client.pipeline(transaction=False)
        for reply in replies:
            pipe.xadd(self.key, reply.to_wire())  # type: ignore[arg-type]
        pipe.execute()
        self.wake.set()

    def run(self, stop: threading.Event) -> None:
        """Send until ``stop`` is set; a 401 ends it (the listener says why)."""
        while not stop.is_set():
            try:
                nap = self.send_some()
            except Unauthorized:
                return
            except (redis.RedisError, MessagingError) as exc:
                log.warning("replies: %s; retrying shortly", exc)
                nap = MAX_NAP_SECONDS
            if nap:
                self.wake.wait(nap)
                self.wake.clear()

    def send_some(self) -> float:
        """Send one request's worth if tokens allow; returns how long to wait before the next."""
        # No more than the bucket can grant without going into debt: a small quota's burst is
        # below 100, and a larger request would let a window hold more than the quota.
        count = min(MAX_PER_REQUEST, max_cost([self.quota]))
        entries = cast(Entries, self.client.xrange(self.key, count=count))
        if not entries:
            return MAX_NAP_SECONDS
        wait = self.buckets.try_take([self.quota], len(entries))
        if wait > 0:
            return min(wait, MAX_NAP_SECONDS)
        messages = [_outgoing(fields) for _, fields in entries]
        try:
            self.sender.send_messages(messages)
        except Unauthorized:
            raise
        except PermanentError as exc:
            if len(messages) == 1:
                # This user cannot be answered (blocked the bot, ...): drop it, not everyone.
                log.warning("replies: dropping the reply to %s: %s", messages[0].recipient_id, exc)
                self.dropped += 1
            else:
                return self._one_by_one(entries)
        self.client.xdel(self.key, *[entry_id for entry_id, _ in entries])
        self.sent += len(messages)
        return 0.0

    def _one_by_one(self, entries: Entries) -> float:
        """A request refused for good: find the message(s) that caused it, one request each."""
        for entry_id, fields in entries:
            wait = self.buckets.try_take([self.quota], 1)
            if wait > 0:
                return min(wait, MAX_NAP_SECONDS)
            message = _outgoing(fields)
            try:
                self.sender.send_messages([message])
                self.sent += 1
            except Unauthorized:
                raise
            except PermanentError as exc:
                log.warning("replies: dropping the reply to %s: %s", message.recipient_id, exc)
                self.dropped += 1
            self.client.xdel(self.key, entry_id)
        return 0.0


def _outgoing(fields: dict[bytes, bytes]) -> OutgoingMessage:
    text = {key.decode(): value.decode() for key, value in fields.items()}
    return OutgoingMessage(
        conversation_id=text["conversation_id"],
        recipient_id=text["recipient_id"],
        message_id=text["message_id"],
        category=text["category"],
        data_base64=text["data_base64"],
    )
