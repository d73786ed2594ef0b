"""Receipts: the exact §3.5 push for either transport, gating by LIST_PENDING_MESSAGES,
idempotent re-sends, and the user behaviours (devices, duplicates, order, never read)."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
import websocket

from simulator import Simulator, UserBehaviour
from tests.simulator.conftest import read_keystore
from tests.simulator.wire_client import BlazeSocket, HttpApi, text_message

RECEIPT = "ACKNOWLEDGE_MESSAGE_RECEIPT"
RFC3339_NS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z")
# The key order of the TRACE2019 frame (spec §3.5).
RECEIPT_DATA_KEYS = [
    "type", "representative_id", "quote_message_id", "conversation_id", "user_id", "message_id",
    "category", "data", "status", "source", "created_at", "updated_at",
]


def _check_receipt(push: dict[str, Any], message_id: str, status: str) -> None:
    assert list(push) == ["id", "action", "data"]
    assert push["action"] == RECEIPT
    uuid.UUID(push["id"])
    data = push["data"]
    assert list(data) == RECEIPT_DATA_KEYS
    assert data == {
        "type": "message",
        "representative_id": "",
        "quote_message_id": "",
        "conversation_id": "",
        "user_id": "",
        "message_id": message_id,
        "category": "",
        "data": "",
        "status": status,
        "source": RECEIPT,
        "created_at": "0001-01-01T00:00:00Z",
        "updated_at": data["updated_at"],
    }
    assert RFC3339_NS.fullmatch(data["updated_at"])


def _listener(connect: Callable[..., BlazeSocket]) -> BlazeSocket:
    socket = connect()
    socket.call("LIST_PENDING_MESSAGES")
    return socket


def test_ws_and_http_messages_get_delivered_then_read_on_the_listener(
    connect: Callable[..., BlazeSocket], api: HttpApi, sim: Simulator
) -> None:
    listener = _listener(connect)
    sender = connect()  # no LIST_PENDING_MESSAGES: it must receive no push
    over_ws = text_message(sim.bot_id, sim.user_ids[0])
    over_http = text_message(sim.bot_id, sim.user_ids[1])
    sender.call("CREATE_PLAIN_MESSAGES", {"messages": [over_ws]})
    assert api.request("POST", "/messages", [over_http]).json() == {}
    pushes = listener.pushes(RECEIPT, 4)
    for message in (over_ws, over_http):
        mine = [p for p in pushes if p["data"]["message_id"] == message["message_id"]]
        assert [p["data"]["status"] for p in mine] == ["DELIVERED", "READ"]
        _check_receipt(mine[0], message["message_id"], "DELIVERED")
        _check_receipt(mine[1], message["message_id"], "READ")
    assert len({p["id"] for p in pushes}) == 4  # every push has a fresh server id
    with pytest.raises(websocket.WebSocketTimeoutException):
        sender.receive(timeout=0.3)
    state = sim.message(over_http["message_id"])
    assert state is not None and state["state"] == "READ" and state["transport"] == "http"
    stats = sim.stats()
    assert stats["receipts_sent"] == {"DELIVERED": 2, "READ": 2}
    assert (stats["messages_delivered"], stats["messages_read"]) == (2, 2)


def test_a_repeated_message_id_is_success_without_a_second_delivery(
    connect: Callable[..., BlazeSocket], api: HttpApi, sim: Simulator
) -> None:
    listener = _listener(connect)
    message = text_message(sim.bot_id, sim.user_ids[0])
    first = connect().call("CREATE_MESSAGE", message)
    listener.pushes(RECEIPT, 2)
    again = connect().call("CREATE_MESSAGE", message)
    assert again["data"]["status"] == "SENT" and again["data"]["created_at"] == first["data"]["created_at"]
    assert api.request("POST", "/messages", [message, message]).json() == {}
    with pytest.raises(websocket.WebSocketTimeoutException):
        listener.receive(timeout=0.5)  # no new receipts for re-sends
    stats = sim.stats()
    assert stats["messages_accepted"] == 4
    assert (stats["distinct_message_ids"], stats["duplicate_message_ids"], stats["visible_messages"]) == (1, 3, 1)
    state = sim.message(message["message_id"])
    assert state is not None and state["times_sent"] == 4


def test_conflicting_reuse_is_10002_unless_accepted(make_sim: Callable[..., Simulator]) -> None:
    for mode, expected in (("reject", 10002), ("accept", None)):
        sim = make_sim(conflicting_reuse=mode)
        first = text_message(sim.bot_id, sim.user_ids[0], "one")
        second = {**text_message(sim.bot_id, sim.user_ids[0], "two"), "message_id": first["message_id"]}
        with HttpApi(sim.http_url, read_keystore(sim)) as api:
            assert api.request("POST", "/messages", [first]).json() == {}
            body = api.request("POST", "/messages", [second]).json()
        if expected is None:
            assert body == {}
            assert sim.stats()["conflicting_message_ids"] == 1
        else:
            assert body["error"]["code"] == expected and body["error"]["extra"]["field"] == "message_id"
        assert sim.stats()["visible_messages"] == 1


def test_receipts_without_a_listener_are_dropped_or_queued(make_sim: Callable[..., Simulator]) -> None:
    for queue in (False, True):
        sim = make_sim(queue_receipts_offline=queue)
        message = text_message(sim.bot_id, sim.user_ids[0])
        with HttpApi(sim.http_url, read_keystore(sim)) as api:
            assert api.request("POST", "/messages", [message]).json() == {}
        deadline = time.monotonic() + 5
        while sim.stats()["messages_read"] < 1 and time.monotonic() < deadline:
            time.sleep(0.02)
        with BlazeSocket(sim.blaze_url, read_keystore(sim)) as listener:
            listener.call("LIST_PENDING_MESSAGES")
            if queue:
                assert [p["data"]["status"] for p in listener.pushes(RECEIPT, 2)] == ["DELIVERED", "READ"]
            else:
                with pytest.raises(websocket.WebSocketTimeoutException):
                    listener.receive(timeout=0.3)
        stats = sim.stats()
        assert (stats["receipts_queued"], stats["receipts_dropped"]) == ((2, 0) if queue else (0, 2))


def test_several_devices_duplicates_and_read_before_delivered(make_sim: Callable[..., Simulator]) -> None:
    behaviour = UserBehaviour.fast(multi_device_fraction=1.0, max_devices=2, out_of_order_rate=1.0)
    sim = make_sim(behaviour=behaviour, users=5)
    with BlazeSocket(sim.blaze_url, read_keystore(sim)) as listener:
        listener.call("LIST_PENDING_MESSAGES")
        message = text_message(sim.bot_id, sim.user_ids[0])
        listener.call("CREATE_MESSAGE", message)
        statuses = [p["data"]["status"] for p in listener.pushes(RECEIPT, 3)]
    assert statuses == ["READ", "DELIVERED", "DELIVERED"]
    state = sim.message(message["message_id"])
    assert state is not None and state["state"] == "READ"  # never moves back

    duplicated = make_sim(behaviour=UserBehaviour.fast(duplicate_receipt_rate=1.0), users=5)
    with BlazeSocket(duplicated.blaze_url, read_keystore(duplicated)) as listener:
        listener.call("LIST_PENDING_MESSAGES")
        listener.call("CREATE_MESSAGE", text_message(duplicated.bot_id, duplicated.user_ids[0]))
        statuses = sorted(p["data"]["status"] for p in listener.pushes(RECEIPT, 3))
    assert statuses in (["DELIVERED", "DELIVERED", "READ"], ["DELIVERED", "READ", "READ"])
    assert duplicated.stats()["messages_delivered"] == 1


def test_never_readers_and_offline_devices(make_sim: Callable[..., Simulator]) -> None:
    behaviour = UserBehaviour.fast(never_read_fraction=1.0, offline_fraction=1.0, offline_median=0.3)
    before_start = time.monotonic()
    sim = make_sim(behaviour=behaviour, users=3)
    online_after = sim.population.users[sim.user_ids[0]].online_after
    assert online_after > 0.5  # seed 1 draws 1.24 s: long enough to tell from a prompt delivery
    with BlazeSocket(sim.blaze_url, read_keystore(sim)) as listener:
        listener.call("LIST_PENDING_MESSAGES")
        listener.call("CREATE_MESSAGE", text_message(sim.bot_id, sim.user_ids[0]))
        listener.pushes(RECEIPT, 1, timeout=30)
        # Delivered only once the device came online, measured from the simulator's start.
        assert time.monotonic() >= before_start + online_after
        with pytest.raises(websocket.WebSocketTimeoutException):
            listener.receive(timeout=0.4)  # no READ, ever
    assert sim.stats()["messages_read"] == 0


def test_each_push_goes_to_one_of_several_listeners(connect: Callable[..., BlazeSocket], api: HttpApi, sim: Simulator) -> None:
    first, second = _listener(connect), _listener(connect)
    batch = [text_message(sim.bot_id, user) for user in sim.user_ids[:10]]
    assert api.request("POST", "/messages", batch).json() == {}
    deadline = time.monotonic() + 5
    while sum(sim.stats()["receipts_sent"].values()) < 20 and time.monotonic() < deadline:
        time.sleep(0.02)
    received: list[dict[str, Any]] = []
    per_socket = []
    for socket in (first, second):
        with pytest.raises(websocket.WebSocketTimeoutException):
            while True:
                received.append(socket.receive(timeout=0.3))
        per_socket.append(len(received) - sum(per_socket))
    assert len({(p["data"]["message_id"], p["data"]["status"]) for p in received}) == len(received) == 20
    assert per_socket == [10, 10]  # in turn


def test_status_catch_up_over_http(connect: Callable[..., BlazeSocket], api: HttpApi, sim: Simulator) -> None:
    before = time.time_ns()
    message = text_message(sim.bot_id, sim.user_ids[0])
    assert api.request("POST", "/messages", [message]).json() == {}
    deadline = time.monotonic() + 5
    while sim.stats()["messages_read"] < 1 and time.monotonic() < deadline:
        time.sleep(0.02)
    changes = api.request("GET", f"/messages/status/{before}").json()["data"]
    assert [(c["message_id"], c["status"]) for c in changes] == [
        (message["message_id"], "DELIVERED"),
        (message["message_id"], "READ"),
    ]
    assert api.request("GET", f"/messages/status/{time.time_ns()}").json()["data"] == []
