"""Messages users send to the bot: live pushes, replay until acknowledged, first contact."""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import Callable

import pytest
import requests
import websocket

from simulator import Simulator
from tests.simulator.conftest import read_keystore
from tests.simulator.wire_client import BlazeSocket, HttpApi, text_message, unique_conversation_id

PUSH = "CREATE_MESSAGE"


def test_a_user_message_is_pushed_live_in_the_documented_shape(connect: Callable[..., BlazeSocket], sim: Simulator) -> None:
    listener = connect()
    listener.call("LIST_PENDING_MESSAGES")
    user = sim.user_ids[0]
    [created] = sim.user_says(user, "/stop")
    push = listener.pushes(PUSH, 1)[0]
    data = push["data"]
    assert push["id"] != created["message_id"]
    assert data["source"] == "CREATE_MESSAGE"
    assert (data["user_id"], data["message_id"], data["category"]) == (user, created["message_id"], "PLAIN_TEXT")
    assert data["conversation_id"] == unique_conversation_id(sim.bot_id, user)
    assert base64.b64decode(data["data"]) == b"/stop"  # std, padded
    assert data["data_base64"] == base64.urlsafe_b64encode(b"/stop").rstrip(b"=").decode()
    assert data["status"] == "SENT" and data["session_id"]


def test_unacknowledged_messages_are_replayed_in_order_until_acked(sim: Simulator) -> None:
    keystore = read_keystore(sim)
    first = sim.user_says(sim.user_ids[0], "one")[0]
    time.sleep(0.002)
    second = sim.user_says(sim.user_ids[1], "two")[0]
    for _ in range(2):  # each reconnect replays the backlog, oldest first
        with BlazeSocket(sim.blaze_url, keystore) as socket:
            socket.call("LIST_PENDING_MESSAGES")
            pushes = socket.pushes(PUSH, 2)
        assert [p["data"]["message_id"] for p in pushes] == [first["message_id"], second["message_id"]]
        assert {p["data"]["source"] for p in pushes} == {"LIST_PENDING_MESSAGES"}
    with BlazeSocket(sim.blaze_url, keystore) as socket:
        socket.call("LIST_PENDING_MESSAGES")
        socket.pushes(PUSH, 2)
        ack = socket.call("ACKNOWLEDGE_MESSAGE_RECEIPT", {"message_id": first["message_id"], "status": "READ"})
        assert ack == {"id": socket.last_id, "action": "ACKNOWLEDGE_MESSAGE_RECEIPT"}
    with BlazeSocket(sim.blaze_url, keystore) as socket:
        socket.call("LIST_PENDING_MESSAGES")
        assert [p["data"]["message_id"] for p in socket.pushes(PUSH, 1)] == [second["message_id"]]
        socket.call("ACKNOWLEDGE_MESSAGE_RECEIPTS", {"messages": [{"message_id": second["message_id"], "status": "DELIVERED"}]})
    with BlazeSocket(sim.blaze_url, keystore) as socket:
        socket.call("LIST_PENDING_MESSAGES")
        with pytest.raises(websocket.WebSocketTimeoutException):
            socket.receive(timeout=0.3)
    assert sim.stats()["user_messages_acknowledged"] == 2


def test_http_acknowledgements_echo_and_remove(api: HttpApi, sim: Simulator) -> None:
    created = sim.user_says(sim.user_ids[0], "hi")[0]
    acks = [{"message_id": created["message_id"], "status": "READ"}]
    assert api.request("POST", "/acknowledgements", acks).json() == {"data": acks}
    assert sim.stats()["user_messages_pending"] == 0
    too_many = [{"message_id": str(uuid.uuid4()), "status": "READ"}] * 101
    assert api.request("POST", "/acknowledgements", too_many).json()["error"]["code"] == 10002


def test_first_contact_says_hello_and_makes_the_user_reachable(
    connect: Callable[..., BlazeSocket], api: HttpApi, sim: Simulator
) -> None:
    newcomer = "d1e9ec7e-199d-4578-91a0-a69d9a7ba048"
    message = text_message(sim.bot_id, newcomer, "welcome")
    assert api.request("POST", "/messages", [message]).json()["error"]["code"] == 403
    listener = connect()
    listener.call("LIST_PENDING_MESSAGES")
    response = requests.post(f"{sim.http_url}/_sim/users/{newcomer}/messages", json={"text": "/start"}, timeout=5)
    assert [m["text"] for m in response.json()["messages"]] == ["Hello", "/start"]
    texts = [base64.b64decode(p["data"]["data"]) for p in listener.pushes(PUSH, 2)]
    assert texts == [b"Hello", b"/start"]
    assert api.request("POST", "/messages", [message]).json() == {}
    # A second message from a known contact is not greeted again.
    assert [m["text"] for m in sim.user_says(newcomer, "/stop")] == ["/stop"]


def test_user_messages_expire_after_the_retention(make_sim: Callable[..., Simulator]) -> None:
    sim = make_sim(user_message_retention_seconds=0.2)
    sim.user_says(sim.user_ids[0], "old news")
    time.sleep(0.3)
    with BlazeSocket(sim.blaze_url, read_keystore(sim)) as socket:
        socket.call("LIST_PENDING_MESSAGES")
        with pytest.raises(websocket.WebSocketTimeoutException):
            socket.receive(timeout=0.3)


def test_user_says_rejects_a_bad_user_id(sim: Simulator) -> None:
    with pytest.raises(ValueError, match="lowercase UUID"):
        sim.user_says("NOT-A-UUID", "hi")
    response = requests.post(f"{sim.http_url}/_sim/users/NOPE/messages", json={"text": "x"}, timeout=5)
    assert response.status_code == 400


def test_queued_receipts_do_not_duplicate_user_messages(make_sim: Callable[..., Simulator]) -> None:
    sim = make_sim(queue_receipts_offline=True)
    sim.user_says(sim.user_ids[0], "while you were away")
    with BlazeSocket(sim.blaze_url, read_keystore(sim)) as socket:
        socket.call("LIST_PENDING_MESSAGES")
        assert socket.pushes(PUSH, 1)[0]["data"]["source"] == "LIST_PENDING_MESSAGES"
        with pytest.raises(websocket.WebSocketTimeoutException):
            socket.receive(timeout=0.3)
