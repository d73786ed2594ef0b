"""Hostile input, listener: replies wait durably for tokens and a user who cannot be answered is
isolated (real Redis; the provider is a fake that records requests)."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Sequence

import pytest
import redis

from worker.messaging.errors import Forbidden
from worker.messaging.transport import OutgoingMessage
from worker.ratelimit import TokenBuckets, quota_spec
from worker.reply_outbox import ReplyOutbox, outbox_key

pytestmark = pytest.mark.hostile
BOT = "8a7e1f2c-0d3b-4c5a-9e6f-1a2b3c4d5e6f"


class RecordingSender:
    def __init__(self, refuse: set[str] | None = None) -> None:
        self.requests: list[list[str]] = []
        self.refuse = refuse or set()

    def send_messages(self, messages: Sequence[OutgoingMessage]) -> None:
        self.requests.append([m.recipient_id for m in messages])
        if self.refuse & {m.recipient_id for m in messages}:
            raise Forbidden("the user blocked the bot", code=403)


def _replies(n: int) -> list[OutgoingMessage]:
    users = [str(uuid.uuid4()) for _ in range(n)]
    return [
        OutgoingMessage(str(uuid.uuid4()), u, str(uuid.uuid4()), "PLAIN_TEXT", "Ynll")
        for u in users
    ]


def _outbox(client: redis.Redis, sender: RecordingSender, quota: int) -> ReplyOutbox:
    spec = quota_spec(BOT, quota, window_seconds=60)
    return ReplyOutbox(client, BOT, sender, TokenBuckets(client), spec)


def test_replies_go_out_at_most_100_at_a_time_and_only_with_tokens(
    redis_client: redis.Redis,
) -> None:
    sender = RecordingSender()
    outbox = _outbox(redis_client, sender, quota=12_000)
    outbox.put(_replies(1_000))
    started = time.monotonic()
    while time.monotonic() - started < 1.5:
        time.sleep(outbox.send_some())
    elapsed = time.monotonic() - started
    sent = sum(map(len, sender.requests))
    assert sent > 0 and max(map(len, sender.requests)) <= 100
    # Never more than the bucket granted (it starts empty): the rest waits in the outbox.
    assert sent <= outbox.quota.burst + outbox.quota.rate_per_second * elapsed
    assert redis_client.xlen(outbox_key(BOT)) == 1_000 - sent > 0


def test_replies_left_by_a_dead_listener_are_sent_by_the_next(redis_client: redis.Redis) -> None:
    _outbox(redis_client, RecordingSender(), quota=100_000).put(_replies(30))
    sender = RecordingSender()
    stop = threading.Event()
    again = _outbox(redis_client, sender, quota=100_000)
    thread = threading.Thread(target=again.run, args=(stop,))
    thread.start()
    try:
        for _ in range(50):
            if again.sent == 30:
                break
            stop.wait(0.1)
    finally:
        stop.set()
        again.wake.set()
        thread.join(5)
    assert again.sent == 30 and redis_client.xlen(outbox_key(BOT)) == 0


def test_a_user_who_blocked_the_bot_does_not_hold_up_the_others(redis_client: redis.Redis) -> None:
    replies = _replies(10)
    sender = RecordingSender(refuse={replies[3].recipient_id})
    outbox = _outbox(redis_client, sender, quota=100_000)
    outbox.put(replies)
    started = time.monotonic()
    while redis_client.xlen(outbox_key(BOT)) and time.monotonic() - started < 3:
        time.sleep(outbox.send_some())
    assert (outbox.sent, outbox.dropped) == (9, 1)
    assert redis_client.xlen(outbox_key(BOT)) == 0
