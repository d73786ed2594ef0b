"""Hostile input, listener: frames and receipts from the provider are validated at the edge.

Before issue 13 (item 7): a receipt whose ``message_id`` is not a UUID reached Postgres and failed
a whole buffer; an ``updated_at`` of year 9999 with an offset raised ``OverflowError`` and dropped
the connection on every reconnect; a 291 KB frame inflated to ~936 MB.
"""

from __future__ import annotations

import gzip
import json
import random
import uuid
import zlib
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from worker.messaging.mixin.frames import (
    MAX_FRAME_BYTES,
    FrameError,
    OversizedFrame,
    decode_frame,
    parse_server_frame,
    push_from_frame,
)
from worker.messaging.mixin.ids import unique_conversation_id
from worker.messaging.transport import IncomingMessage, Receipt

pytestmark = pytest.mark.hostile
BOT = "11111111-1111-4111-8111-111111111111"
USER = "22222222-2222-4222-8222-222222222222"


def _receipt(**data: Any) -> dict[str, Any]:
    fields = {
        "message_id": "9054acea-1a62-4716-9fa3-1a8c70a2165a",
        "status": "READ",
        "source": "ACKNOWLEDGE_MESSAGE_RECEIPT",
        "updated_at": "2019-01-10T03:44:23.787562Z",
        **data,
    }
    return {
        "id": "cf69c7a2-787b-4a91-be22-f51f38338179",
        "action": "ACKNOWLEDGE_MESSAGE_RECEIPT",
        "data": fields,
    }


def _push(envelope: dict[str, Any]) -> Receipt | IncomingMessage | None:
    return push_from_frame(parse_server_frame(envelope), BOT)


@pytest.mark.parametrize(
    "message_id", ["not-a-uuid", "", "9054acea1a6247169fa31a8c70a2165a", "x" * 10_000, 7, None]
)
def test_a_receipt_without_a_uuid_message_id_is_ignored(message_id: Any) -> None:
    assert _push(_receipt(message_id=message_id)) is None


@pytest.mark.parametrize(
    "updated_at",
    [
        "9999-12-31T23:59:59-05:00",
        "0001-01-01T00:00:00+05:00",
        "2019-13-45T99:00:00Z",
        "9" * 5_000,
        12345,
        None,
    ],
)
def test_an_impossible_receipt_time_keeps_the_receipt_with_the_time_it_arrived(
    updated_at: Any,
) -> None:
    receipt = _push(_receipt(updated_at=updated_at))
    assert isinstance(receipt, Receipt)
    assert abs(receipt.updated_at - datetime.now(UTC)) < timedelta(seconds=5)


def test_a_user_message_without_a_uuid_message_id_is_ignored() -> None:
    data = {
        "message_id": "nope",
        "conversation_id": "c",
        "user_id": USER,
        "category": "PLAIN_TEXT",
        "data_base64": "L3N0b3A",
        "created_at": "2026-01-01T00:00:00Z",
    }
    assert _push({"id": "i", "action": "CREATE_MESSAGE", "data": data}) is None


@pytest.mark.parametrize(
    ("conversation", "direct"),
    [
        ("1:1", True),
        ("1:1-upper", True),
        (str(uuid.uuid4()), False),  # a group
        ("not-a-uuid", False),
        ("", False),
    ],
)
def test_only_the_1_to_1_conversation_is_direct(conversation: str, direct: bool) -> None:
    one_to_one = unique_conversation_id(BOT, USER)
    conversation = {"1:1": one_to_one, "1:1-upper": one_to_one.upper()}.get(
        conversation, conversation
    )
    data = {
        "message_id": str(uuid.uuid4()),
        "conversation_id": conversation,
        "user_id": USER,
        "category": "PLAIN_TEXT",
        "data_base64": "L3N0b3A",
        "created_at": "2026-01-01T00:00:00Z",
    }
    message = _push({"id": "i", "action": "CREATE_MESSAGE", "data": data})
    assert isinstance(message, IncomingMessage) and message.direct is direct


def test_a_frame_that_inflates_past_the_bound_is_refused_without_inflating_it() -> None:
    body = json.dumps({"id": "i", "action": "CREATE_MESSAGE", "data": "0" * (8 << 20)}).encode()
    bomb = gzip.compress(body, compresslevel=9)
    assert len(bomb) < 64 << 10
    with pytest.raises(OversizedFrame):
        decode_frame(bomb)
    # A frame just under the bound is still read.
    fits = gzip.compress(
        json.dumps({"id": "i", "action": "A", "data": "0" * (MAX_FRAME_BYTES - 100)}).encode()
    )
    assert decode_frame(fits)["action"] == "A"


def test_truncated_or_garbled_frames_are_frame_errors() -> None:
    good = gzip.compress(json.dumps({"id": "i", "action": "A"}).encode())
    for payload in (good[:-6], good[:10], b"", b"\x1f\x8b" + bytes(40), zlib.compress(b"{}")):
        with pytest.raises(FrameError):
            decode_frame(payload)


def test_random_receipt_and_message_frames_never_raise() -> None:
    """Seeded fuzzing of the fields the listener reads: every outcome is a value or None."""
    rng = random.Random(13)
    values: list[Any] = [
        None,
        "",
        0,
        -1,
        1e308,
        True,
        [],
        {},
        "9999-12-31T23:59:59+14:00",
        "not-a-uuid",
        USER,
        "READ",
        "DELIVERED",
        "SYSTEM_CONVERSATION",
        "\ud800",
        "x" * 70_000,
        "2026-01-01T00:00:00Z",
        "L3N0b3A",
        "!!!",
    ]
    keys = [
        "message_id",
        "conversation_id",
        "user_id",
        "category",
        "status",
        "updated_at",
        "created_at",
        "data",
        "data_base64",
        "source",
    ]
    for _ in range(2_000):
        data = {k: rng.choice(values) for k in keys if rng.random() < 0.8}
        action = rng.choice(["ACKNOWLEDGE_MESSAGE_RECEIPT", "CREATE_MESSAGE", "OTHER"])
        push = _push({"id": "i", "action": action, "data": data})
        assert push is None or isinstance(push, (Receipt, IncomingMessage))


def test_a_gzip_bomb_on_the_socket_is_skipped_and_the_connection_goes_on() -> None:
    """Through a real websocket: the frame after the bomb arrives on the same connection."""
    import asyncio
    import threading
    import time
    import tracemalloc

    from tests.unit.messaging.messaging_helpers import running_blaze_server, spec_keystore
    from worker.messaging.mixin.blaze import BlazeClient

    keystore = spec_keystore()
    pushes: list[Any] = []
    bomb = gzip.compress(json.dumps({"id": "b", "action": "X", "data": "0" * (64 << 20)}).encode())
    receipt = _receipt()
    with running_blaze_server(keystore) as server:
        client = BlazeClient(
            keystore, server.url, server.api_url, on_push=pushes.append, subscribe=True
        )
        stop = threading.Event()
        thread = threading.Thread(target=client.run_forever, args=(stop,))
        thread.start()
        try:
            deadline = time.monotonic() + 10
            while not server.requests and time.monotonic() < deadline:
                time.sleep(0.02)
            assert server._loop is not None
            tracemalloc.start()
            for ws in list(server._sockets):
                asyncio.run_coroutine_threadsafe(ws.send_bytes(bomb), server._loop).result(5)
            server.push(receipt)
            while not pushes and time.monotonic() < deadline:
                time.sleep(0.02)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
            stop.set()
            thread.join(5)
            client.close()
    assert peak < 16 << 20, f"{peak / 2**20:.0f} MiB allocated for a {len(bomb) >> 10} KiB frame"
    assert [type(p) for p in pushes] == [Receipt]
    assert client.connections_opened == 1
