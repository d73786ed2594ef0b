"""The websocket transport: subprotocols, gzip binary frames, one reply per request, pings."""

from __future__ import annotations

import gzip
import json
import time
from collections.abc import Callable

import pytest
import requests
import websocket

from simulator import Simulator
from tests.simulator.conftest import read_keystore
from tests.simulator.wire_client import BlazeSocket, SocketClosed, sign_token, text_message


@pytest.mark.parametrize(
    ("offered", "answered"),
    [
        (["Mixin-Blaze-1"], "Mixin-Blaze-1"),
        (["MixinBot-Blaze-1"], "MixinBot-Blaze-1"),  # the Kotlin SDK's variant
        (["chat", "Mixin-Blaze-1"], "Mixin-Blaze-1"),
        ([], None),
    ],
)
def test_subprotocol_is_answered_only_as_offered(
    connect: Callable[..., BlazeSocket], offered: list[str], answered: str | None
) -> None:
    socket = connect(subprotocols=offered)
    assert socket.subprotocol == answered
    assert socket.call("LIST_PENDING_MESSAGES") == {"id": socket.last_id, "action": "LIST_PENDING_MESSAGES"}


def test_every_request_gets_one_reply_with_its_id_and_action(connect: Callable[..., BlazeSocket]) -> None:
    socket = connect()
    ids = [f"00000000-0000-4000-8000-00000000000{n}" for n in range(3)]
    for request_id in ids:
        socket.send({"id": request_id, "action": "LIST_PENDING_MESSAGES"})
    replies = [socket.receive() for _ in ids]
    assert replies == [{"id": i, "action": "LIST_PENDING_MESSAGES"} for i in ids]
    with pytest.raises(websocket.WebSocketTimeoutException):
        socket.receive(timeout=0.3)


def test_server_frames_are_binary_gzip(sim: Simulator) -> None:
    keystore = read_keystore(sim)
    ws = websocket.create_connection(
        sim.blaze_url, header=[f"Authorization: Bearer {sign_token(keystore)}"], subprotocols=["Mixin-Blaze-1"]
    )
    try:
        ws.send_bytes(gzip.compress(b'{"id":"5a7c1a8e-0b7e-4d0e-9a53-3f0f6f0c2b11","action":"LIST_PENDING_MESSAGES"}'))
        opcode, data = ws.recv_data()
        assert opcode == websocket.ABNF.OPCODE_BINARY
        assert data[:2] == b"\x1f\x8b"
        assert json.loads(gzip.decompress(data)) == {
            "id": "5a7c1a8e-0b7e-4d0e-9a53-3f0f6f0c2b11",
            "action": "LIST_PENDING_MESSAGES",
        }
    finally:
        ws.close()
        ws.shutdown()


def test_text_frame_closes_the_connection(connect: Callable[..., BlazeSocket]) -> None:
    socket = connect()
    socket.ws.send('{"id":"x","action":"LIST_PENDING_MESSAGES"}')
    with pytest.raises(SocketClosed) as closed:
        socket.receive()
    assert closed.value.code == 1003


def test_non_gzip_frame_closes_after_an_error_frame_when_configured(make_sim: Callable[..., Simulator]) -> None:
    sim = make_sim(bad_frame_error_first=True)
    with BlazeSocket(sim.blaze_url, read_keystore(sim)) as socket:
        socket.ws.send_bytes(b'{"id":"x","action":"LIST_PENDING_MESSAGES"}')
        frame = socket.receive()
        assert frame["action"] == "ERROR"
        assert frame["error"]["code"] == 400 and frame["error"]["status"] == 202
        with pytest.raises(SocketClosed) as closed:
            socket.receive()
        assert closed.value.code == 1007


def test_malformed_envelopes_and_unknown_actions_get_400(connect: Callable[..., BlazeSocket]) -> None:
    socket = connect()
    socket.send({"action": "LIST_PENDING_MESSAGES"})
    missing_id = socket.receive()
    assert missing_id["error"]["code"] == 400
    reply = socket.call("NO_SUCH_ACTION")
    assert reply["action"] == "NO_SUCH_ACTION"
    assert reply["error"]["code"] == 400
    # User-client actions are harmless no-ops with a bare reply.
    assert socket.call("COUNT_SIGNAL_KEYS") == {"id": socket.last_id, "action": "COUNT_SIGNAL_KEYS"}


def test_server_sends_pings(make_sim: Callable[..., Simulator]) -> None:
    sim = make_sim(ping_interval=0.2)
    with BlazeSocket(sim.blaze_url, read_keystore(sim)) as socket:
        socket.ws.settimeout(3)
        started = time.monotonic()
        frame = socket.ws.recv_frame()
        assert frame.opcode == websocket.ABNF.OPCODE_PING
        assert time.monotonic() - started < 2


def test_create_plain_messages_needs_a_list(connect: Callable[..., BlazeSocket], sim: Simulator) -> None:
    socket = connect()
    reply = socket.call("CREATE_PLAIN_MESSAGES", {"messages": text_message(sim.bot_id, sim.user_ids[0])})
    assert reply["error"]["code"] == 10002
    assert reply["error"]["extra"]["field"] == "messages"


def test_plain_get_without_upgrade_describes_the_service(sim: Simulator) -> None:
    info = requests.get(sim.http_url + "/", timeout=5).json()
    assert info["blaze_url"] == sim.blaze_url
    assert info["bots"][0]["bot_id"] == sim.bot_id
