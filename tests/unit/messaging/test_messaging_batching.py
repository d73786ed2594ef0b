"""Batches never exceed 100 messages or 128 KB of request body, whatever the transport."""

from __future__ import annotations

import json
import random

import pytest
from messaging_helpers import outgoing as message

from worker.messaging.errors import InvalidData
from worker.messaging.fake import FakeTransport
from worker.messaging.mixin.batching import (
    MAX_BATCH_BYTES,
    batch_body_size,
    check_batch,
    split_batches,
)
from worker.messaging.mixin.frames import request_envelope
from worker.messaging.transport import OutgoingMessage


def websocket_body(batch: list[OutgoingMessage]) -> int:
    envelope = request_envelope("CREATE_PLAIN_MESSAGES", {"messages": [m.to_wire() for m in batch]})
    return len(json.dumps(envelope, separators=(",", ":")).encode())


def http_body(batch: list[OutgoingMessage]) -> int:
    return len(json.dumps([m.to_wire() for m in batch], separators=(",", ":")).encode())


def test_small_messages_split_by_count():
    messages = [message(i) for i in range(250)]
    batches = split_batches(messages)
    assert [len(b) for b in batches] == [100, 100, 50]
    assert [m for b in batches for m in b] == messages  # order kept, nothing lost


def test_large_messages_split_by_bytes_and_the_size_is_exact():
    rng = random.Random(7)
    messages = [message(i, rng.randint(500, 6000)) for i in range(300)]
    batches = split_batches(messages)
    assert [m for b in batches for m in b] == messages
    for batch in batches:
        assert len(batch) <= 100
        assert batch_body_size(batch) == websocket_body(batch)
        assert http_body(batch) < websocket_body(batch) <= MAX_BATCH_BYTES
    # Greedy: adding the next message to any batch would have broken the byte limit.
    for batch, following in zip(batches, batches[1:], strict=False):
        assert batch_body_size([*batch, following[0]]) > MAX_BATCH_BYTES or len(batch) == 100


def test_an_oversized_message_is_isolated_in_its_own_batch():
    giant = message(5, 120 * 1024)
    messages = [message(i) for i in range(5)] + [giant] + [message(i) for i in range(6, 9)]
    batches = split_batches(messages)
    assert [giant] in batches
    assert sum(len(b) for b in batches) == 9
    with pytest.raises(InvalidData) as caught:
        check_batch([giant])
    assert caught.value.extra["largest_message_id"] == giant.message_id


def test_check_batch_refuses_over_limit_batches_naming_the_field():
    with pytest.raises(InvalidData, match="101 messages") as caught:
        check_batch([message(i) for i in range(101)])
    assert caught.value.extra["field"] == "messages"
    check_batch([message(i) for i in range(100)])


def test_custom_limits_are_honoured():
    batches = split_batches([message(i) for i in range(10)], max_messages=3)
    assert [len(b) for b in batches] == [3, 3, 3, 1]
    with pytest.raises(ValueError):
        split_batches([message(1)], max_messages=0)


def test_fake_transport_refuses_what_the_real_ones_refuse():
    fake = FakeTransport(check_batch)
    with pytest.raises(InvalidData):
        fake.send_messages([message(i) for i in range(101)])
    assert fake.batches == []
