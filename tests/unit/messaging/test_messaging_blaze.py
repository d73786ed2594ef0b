"""BlazeClient over a real loopback websocket, against a server scripted per test."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from messaging_helpers import BOT_ID, ScriptedBlaze, error, ok, outgoing, sha256_hex

from worker.messaging.errors import (
    ConnectionLost,
    Forbidden,
    InvalidData,
    RateLimited,
    RequestTimeout,
    Unauthorized,
)
from worker.messaging.mixin.blaze import BlazeClient
from worker.messaging.mixin.keystore import Keystore
from worker.messaging.transport import IncomingMessage, Receipt

RECEIPT = {
    "id": "cf69c7a2-787b-4a91-be22-f51f38338179",
    "action": "ACKNOWLEDGE_MESSAGE_RECEIPT",
    "data": {
        "type": "message",
        "conversation_id": "",
        "user_id": "",
        "category": "",
        "data": "",
        "message_id": "9054acea-1a62-4716-9fa3-1a8c70a2165a",
        "status": "READ",
        "source": "ACKNOWLEDGE_MESSAGE_RECEIPT",
        "created_at": "0001-01-01T00:00:00Z",
        "updated_at": "2019-01-10T03:44:23.787562Z",
    },
}
USER_MESSAGE = {
    "id": "a41816ca-0000-4000-8000-000000000001",
    "action": "CREATE_MESSAGE",
    "data": {
        "type": "message",
        "conversation_id": "c5458ec8-0000-4000-8000-000000000000",
        "user_id": "28ee416a-0000-4000-8000-000000000000",
        "message_id": "a93ebfca-0000-4000-8000-000000000000",
        "category": "PLAIN_TEXT",
        "data_base64": "L3N0b3A",
        "status": "SENT",
        "source": "CREATE_MESSAGE",
        "created_at": "2024-01-01T00:00:00Z",
    },
}


def wait_for(condition, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.01)


@pytest.fixture
def make_client(keystore: Keystore, blaze_server: ScriptedBlaze) -> Iterator[Any]:
    clients: list[BlazeClient] = []

    def make(**options: Any) -> BlazeClient:
        options.setdefault("request_timeout", 2.0)
        client = BlazeClient(keystore, blaze_server.url, blaze_server.api_url, **options)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


def test_a_batch_goes_out_as_create_plain_messages_with_the_blaze_handshake(
    make_client, blaze_server
):
    client = make_client()
    batch = [outgoing(i) for i in range(3)]
    client.send_messages(batch)
    (request,) = blaze_server.requests  # no LIST_PENDING_MESSAGES from a sender
    assert request["action"] == "CREATE_PLAIN_MESSAGES"
    assert request["params"] == {"messages": [m.to_wire() for m in batch]}
    assert blaze_server.protocols == ["Mixin-Blaze-1"]
    (claims,) = blaze_server.tokens
    assert claims["sig"] == sha256_hex("GET/") and claims["uid"] == BOT_ID


def test_concurrent_requests_get_their_own_replies_whatever_the_order(make_client, blaze_server):
    # The first request is answered last: matching must be by id, not by arrival order.
    delays = {outgoing(1).message_id: 0.4, outgoing(2).message_id: 0.0, outgoing(3).message_id: 0.2}

    def respond(envelope):
        message_id = envelope["params"]["message_id"]
        view = {"user_id": BOT_ID, "message_id": message_id, "status": "SENT"}
        return delays.get(message_id, 0.0), ok(envelope, view)

    blaze_server.respond = respond
    client = make_client()
    client.create_message(outgoing(0))  # connect first, so the three below race on one socket
    results: dict[int, dict[str, Any]] = {}

    def send(index: int) -> None:
        results[index] = client.create_message(outgoing(index))

    threads = [threading.Thread(target=send, args=(i,)) for i in (1, 2, 3)]
    for thread in threads:
        thread.start()
        time.sleep(0.02)
    for thread in threads:
        thread.join(5)
    assert {i: r["message_id"] for i, r in results.items()} == {
        i: outgoing(i).message_id for i in (1, 2, 3)
    }
    assert client.connections_opened == 1


@pytest.mark.parametrize(
    "code, expected", [(429, RateLimited), (10002, InvalidData), (403, Forbidden)]
)
def test_error_replies_raise_their_class_and_keep_the_connection(
    make_client, blaze_server, code, expected
):
    blaze_server.respond = lambda envelope: error(envelope, code, "refused", field="data_base64")
    client = make_client()
    with pytest.raises(expected) as caught:
        client.send_messages([outgoing(1)])
    assert caught.value.code == code
    assert caught.value.request_id == blaze_server.requests[0]["id"]
    blaze_server.respond = ok
    client.send_messages([outgoing(1)])
    assert client.connections_opened == 1


def test_a_reply_that_never_comes_times_out_and_the_next_call_works(make_client, blaze_server):
    answers = iter([None, ok])
    blaze_server.respond = lambda envelope: answer(envelope) if (answer := next(answers)) else None
    client = make_client(request_timeout=0.3)
    started = time.monotonic()
    with pytest.raises(RequestTimeout):
        client.send_messages([outgoing(1)])
    assert time.monotonic() - started < 1.5
    client.send_messages([outgoing(1)])  # same ids again: the retry the pipeline makes
    assert [r["params"]["messages"][0]["message_id"] for r in blaze_server.requests] == [
        outgoing(1).message_id
    ] * 2


def test_a_late_create_message_reply_is_not_pushed_as_a_user_message(make_client, blaze_server):
    pushes: list[Any] = []
    view = {"user_id": BOT_ID, "conversation_id": "", "category": "", "status": "SENT"}

    def respond(envelope):
        if envelope["action"] == "CREATE_MESSAGE":
            return 0.5, ok(envelope, {**view, "message_id": envelope["params"]["message_id"]})
        return ok(envelope)

    blaze_server.respond = respond
    client = make_client(subscribe=True, on_push=pushes.append, request_timeout=0.2)
    stop = threading.Event()
    listener = threading.Thread(target=client.run_forever, args=(stop,))
    listener.start()
    try:
        wait_for(lambda: client.connected and len(blaze_server.requests) == 1)
        with pytest.raises(RequestTimeout):
            client.create_message(outgoing(1))
        time.sleep(0.6)  # the late reply arrives now
        blaze_server.push(RECEIPT)
        wait_for(lambda: len(pushes) == 1)
        assert isinstance(pushes[0], Receipt)
    finally:
        stop.set()
        listener.join(5)


def test_a_dropped_connection_fails_the_waiting_call_at_once_and_the_next_reconnects(
    make_client, blaze_server
):
    blaze_server.respond = lambda envelope: "close"
    client = make_client(request_timeout=5.0)
    started = time.monotonic()
    with pytest.raises(ConnectionLost):
        client.send_messages([outgoing(1)])
    assert time.monotonic() - started < 2.0  # not the 5 s request timeout
    blaze_server.respond = ok
    client.send_messages([outgoing(1)])
    assert client.connections_opened == 2


def test_pings_keep_a_quiet_connection_alive(make_client, blaze_server):
    client = make_client(ping_interval=0.1)
    client.send_messages([outgoing(1)])
    time.sleep(0.6)
    assert blaze_server.pings >= 3 and client.connected


def test_a_server_that_stops_answering_pings_is_declared_dead(make_client, blaze_server):
    blaze_server.answer_pings = False
    client = make_client(ping_interval=0.1, liveness_timeout=0.4)
    client.send_messages([outgoing(1)])
    wait_for(lambda: not client.connected, timeout=3.0)


def test_the_websocket_401_frame_stops_the_client_for_good(make_client, blaze_server):
    blaze_server.auth = "error_frame"
    blaze_server.me_status = 401
    blaze_server.me_headers = {"X-Server-Time": str(time.time_ns())}
    client = make_client()
    with pytest.raises(Unauthorized) as caught:
        client.send_messages([outgoing(1)])
    assert caught.value.reason == "invalid credentials"
    assert "GET /me refused them too" in str(caught.value)
    with pytest.raises(Unauthorized):
        client.send_messages([outgoing(1)])
    assert (blaze_server.upgrades, blaze_server.me_calls) == (1, 1)  # no reconnect, one probe


def test_a_refused_upgrade_with_a_skewed_clock_says_clock_skew(make_client, blaze_server):
    blaze_server.auth = "http_401"
    blaze_server.me_status = 401
    blaze_server.me_headers = {"X-Server-Time": str(time.time_ns())}
    client = make_client(clock=lambda: time.time() - 600)  # this machine is 10 minutes late
    with pytest.raises(Unauthorized) as caught:
        client.send_messages([outgoing(1)])
    assert caught.value.reason == "clock skew"
    assert caught.value.skew_seconds == pytest.approx(600, abs=5)
    assert "clock is 600 s behind" in str(caught.value)


def test_the_listener_subscribes_dispatches_pushes_acks_and_reconnects(make_client, blaze_server):
    pushes: list[Any] = []
    threads: set[str] = set()

    def on_push(push):
        threads.add(threading.current_thread().name)
        pushes.append(push)

    client = make_client(subscribe=True, on_push=on_push, backoff_base=0.05, backoff_cap=0.1)
    stop = threading.Event()
    listener = threading.Thread(target=client.run_forever, args=(stop,), name="listener")
    listener.start()
    try:
        wait_for(lambda: [r["action"] for r in blaze_server.requests] == ["LIST_PENDING_MESSAGES"])
        blaze_server.push(RECEIPT)
        blaze_server.push(USER_MESSAGE)
        wait_for(lambda: len(pushes) == 2)
        receipt, incoming = pushes
        assert isinstance(receipt, Receipt) and receipt.status == "READ"
        assert isinstance(incoming, IncomingMessage) and incoming.data == b"/stop"
        assert threads == {"listener"}
        client.acknowledge([f"a93ebfca-0000-4000-8000-{i:012d}" for i in range(150)])
        acks = [r for r in blaze_server.requests if r["action"] == "ACKNOWLEDGE_MESSAGE_RECEIPTS"]
        assert [len(r["params"]["messages"]) for r in acks] == [100, 50]
        blaze_server.cut()
        wait_for(lambda: client.connections_opened == 2 and client.connected)
        wait_for(
            lambda: [r["action"] for r in blaze_server.requests].count("LIST_PENDING_MESSAGES") == 2
        )
        blaze_server.push(RECEIPT)
        wait_for(lambda: len(pushes) == 3)
    finally:
        stop.set()
        listener.join(5)
    assert not listener.is_alive() and not client.connected


def test_the_listener_raises_on_401_instead_of_looping(make_client, blaze_server):
    blaze_server.auth = "error_frame"
    blaze_server.me_status = 401
    client = make_client(subscribe=True, on_push=lambda push: None, backoff_base=0.01)
    with pytest.raises(Unauthorized):
        client.run_forever(threading.Event())
    assert blaze_server.upgrades == 1


def test_non_plain_categories_are_refused_before_the_network(make_client, blaze_server):
    client = make_client()
    with pytest.raises(ValueError, match="APP_CARD"):
        client.send_messages([outgoing(1, category="APP_CARD")])
    assert blaze_server.upgrades == 0
