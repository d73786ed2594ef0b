"""Injected faults: error replies by code, dropped and slow replies, cut connections, bare 500s,
storms, and the control endpoint that sets them."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
import requests
import websocket

from simulator import FaultPlan, Simulator, Storm
from tests.simulator.conftest import read_keystore
from tests.simulator.wire_client import BlazeSocket, HttpApi, SocketClosed, text_message


@pytest.mark.parametrize(("code", "status"), [(500, 500), (7000, 500), (7001, 500), (403, 202), (20140, 202)])
def test_error_replies_by_code_accept_nothing(
    connect: Callable[..., BlazeSocket], api: HttpApi, sim: Simulator, code: int, status: int
) -> None:
    sim.set_faults(error_rate={str(code): 1.0})
    reply = connect().call("CREATE_MESSAGE", text_message(sim.bot_id, sim.user_ids[0]))
    assert (reply["error"]["status"], reply["error"]["code"]) == (status, code)
    response = api.request("POST", "/messages", [text_message(sim.bot_id, sim.user_ids[0])])
    assert response.status_code == (500 if status == 500 else 202)
    assert response.json()["error"]["code"] == code
    stats = sim.stats()
    assert stats["messages_accepted"] == 0 and stats["errors_sent"] == {str(code): 2}


def test_error_rate_is_roughly_the_rate_asked_for(api: HttpApi, sim: Simulator) -> None:
    sim.set_faults(error_rate={"500": 0.3}, seed=7)
    outcomes = [
        api.request("POST", "/messages", [text_message(sim.bot_id, sim.user_ids[0])]).status_code for _ in range(100)
    ]
    assert 15 <= outcomes.count(500) <= 45
    assert sim.stats()["visible_messages"] == outcomes.count(200)


def test_dropped_reply_is_accepted_and_the_retry_hits_idempotency(connect: Callable[..., BlazeSocket], sim: Simulator) -> None:
    socket = connect()
    message = text_message(sim.bot_id, sim.user_ids[0])
    sim.set_faults(drop_reply_rate=1.0)
    with pytest.raises(TimeoutError):
        socket.call("CREATE_PLAIN_MESSAGES", {"messages": [message]}, timeout=0.5)
    sim.set_faults()
    assert "error" not in socket.call("CREATE_PLAIN_MESSAGES", {"messages": [message]})
    stats = sim.stats()
    assert (stats["visible_messages"], stats["duplicate_message_ids"], stats["replies_dropped"]) == (1, 1, 1)


def test_dropped_http_reply_holds_then_closes(api: HttpApi, sim: Simulator) -> None:
    sim.set_faults(drop_reply_rate=1.0, drop_reply_hold_seconds=0.3)
    started = time.monotonic()
    with pytest.raises(requests.ConnectionError):
        api.request("POST", "/messages", [text_message(sim.bot_id, sim.user_ids[0])])
    assert time.monotonic() - started >= 0.3
    assert sim.stats()["visible_messages"] == 1


def test_slow_reply_arrives_late(connect: Callable[..., BlazeSocket], api: HttpApi, sim: Simulator) -> None:
    sim.set_faults(slow_reply_rate=1.0, slow_reply_seconds=0.4)
    socket = connect()
    started = time.monotonic()
    assert "error" not in socket.call("CREATE_MESSAGE", text_message(sim.bot_id, sim.user_ids[0]))
    assert time.monotonic() - started >= 0.4
    started = time.monotonic()
    assert api.request("POST", "/messages", [text_message(sim.bot_id, sim.user_ids[0])]).json() == {}
    assert time.monotonic() - started >= 0.4
    assert sim.stats()["replies_slowed"] == 2


@pytest.mark.parametrize("accepted", [True, False])
def test_cut_connection_mid_batch(connect: Callable[..., BlazeSocket], api: HttpApi, sim: Simulator, accepted: bool) -> None:
    sim.set_faults(cut_connection_rate=1.0, cut_accept_rate=1.0 if accepted else 0.0)
    socket = connect()
    socket.send({"id": "5a7c1a8e-0b7e-4d0e-9a53-3f0f6f0c2b11", "action": "CREATE_PLAIN_MESSAGES",
                 "params": {"messages": [text_message(sim.bot_id, sim.user_ids[0])]}})
    with pytest.raises((SocketClosed, websocket.WebSocketException, ConnectionError)):
        socket.receive()
    with pytest.raises(requests.ConnectionError):
        api.request("POST", "/messages", [text_message(sim.bot_id, sim.user_ids[1])])
    stats = sim.stats()
    assert stats["connections_cut"] == 2
    assert stats["visible_messages"] == (2 if accepted else 0)


def test_bare_http_500_is_not_json(api: HttpApi, sim: Simulator) -> None:
    sim.set_faults(bare_http_500_rate=1.0)
    response = api.request("GET", "/me")
    assert response.status_code == 500
    assert response.headers["Content-Type"].startswith("text/html")
    with pytest.raises(ValueError):
        response.json()
    with pytest.raises(websocket.WebSocketBadStatusException):
        BlazeSocket(sim.blaze_url, read_keystore(sim))


def test_a_storm_fails_every_send_for_its_duration(make_sim: Callable[..., Simulator]) -> None:
    sim = make_sim(faults=FaultPlan(storm=Storm(code=429, seconds=0.5)))
    with HttpApi(sim.http_url, read_keystore(sim)) as api:
        assert api.request("POST", "/messages", [text_message(sim.bot_id, sim.user_ids[0])]).json()["error"]["code"] == 429
        time.sleep(0.6)
        assert api.request("POST", "/messages", [text_message(sim.bot_id, sim.user_ids[0])]).json() == {}
    assert sim.stats()["faults_injected"] == {"error_429": 1}


def test_control_endpoint_sets_validates_and_clears_faults(sim: Simulator) -> None:
    url = f"{sim.http_url}/_sim/faults"
    plan = {"error_rate": {"500": 0.05, "7000": 0.01}, "drop_reply_rate": 0.01, "storm": {"code": 429, "seconds": 3},
            "ws_auth_mode": "http_401", "seed": 3}
    shown = requests.post(url, json=plan, timeout=5).json()
    assert shown["error_rate"] == {"500": 0.05, "7000": 0.01}
    assert shown["storm"] == {"code": 429, "seconds": 3.0} and shown["ws_auth_mode"] == "http_401"
    assert requests.get(url, timeout=5).json() == shown
    bad_plans: list[dict[str, Any]] = [
        {"eror_rate": {}},
        {"drop_reply_rate": 2},
        {"error_rate": {"500": 0.8}, "drop_reply_rate": 0.5},
        {"ws_auth_mode": "maybe"},
    ]
    for bad in bad_plans:
        response = requests.post(url, json=bad, timeout=5)
        assert response.status_code == 400 and "faults" in response.json()["error"]
    assert requests.post(url, json={}, timeout=5).json() == FaultPlan().to_dict()
