"""HttpTransport over a real loopback socket: signing, envelopes, errors, pooling, timeouts."""

from __future__ import annotations

import json
import socket
import time

import pytest
from messaging_helpers import BOT_ID, HttpRecord, ScriptedBlaze, outgoing, sha256_hex

from worker.messaging.errors import (
    ConnectionLost,
    InvalidData,
    RateLimited,
    RequestTimeout,
    ServerError,
    Unauthorized,
)
from worker.messaging.mixin.http import HttpTransport
from worker.messaging.mixin.ids import unique_conversation_id
from worker.messaging.mixin.keystore import Keystore
from worker.messaging.transport import Transport


def reply(status: int, body: object, **headers: str):
    def respond(record: HttpRecord) -> tuple[int, dict[str, str], bytes]:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        return status, dict(headers), raw

    return respond


@pytest.fixture
def http(keystore: Keystore, blaze_server: ScriptedBlaze):
    transport = HttpTransport(keystore, blaze_server.api_url, timeout=2.0)
    yield transport
    transport.close()


def test_send_posts_the_batch_as_a_signed_json_array(http, blaze_server):
    batch = [outgoing(i) for i in range(3)]
    assert isinstance(http, Transport)
    http.send_messages(batch)
    (record,) = blaze_server.http_requests
    assert (record.method, record.path) == ("POST", "/messages")
    assert json.loads(record.body) == [m.to_wire() for m in batch]
    assert record.claims["uid"] == BOT_ID
    assert record.claims["sig"] == sha256_hex("POST/messages" + record.body.decode())
    assert record.claims["jti"] == record.headers["x-request-id"]
    assert record.headers["content-type"] == "application/json"


def test_requests_share_one_pooled_connection(http, blaze_server):
    for _ in range(5):
        http.me()
    assert len({record.peer for record in blaze_server.http_requests}) == 1


def test_an_error_envelope_in_a_202_becomes_its_class_with_the_details(http, blaze_server):
    blaze_server.http_respond = reply(
        202,
        {
            "error": {
                "status": 202,
                "code": 10002,
                "description": "The request data has invalid field",
                "extra": {"field": "data_base64", "message_id": "m-1"},
            }
        },
    )
    with pytest.raises(InvalidData) as caught:
        http.send_messages([outgoing(1)])
    assert caught.value.extra["field"] == "data_base64"
    assert caught.value.request_id == blaze_server.http_requests[0].headers["x-request-id"]


def test_429_is_rate_limited_with_the_retry_after_hint(http, blaze_server):
    blaze_server.http_respond = reply(
        202,
        {"error": {"status": 202, "code": 429, "description": "Too Many Requests."}},
        **{"Retry-After": "3"},
    )
    with pytest.raises(RateLimited) as caught:
        http.send_messages([outgoing(1)])
    assert caught.value.retry_after == 3.0 and caught.value.code == 429


def test_a_bare_edge_500_is_a_server_error(http, blaze_server):
    blaze_server.http_respond = reply(500, b"<html><body>502 Bad Gateway</body></html>")
    with pytest.raises(
        ServerError, match="HTTP 500 without a Mixin error body: <html><body>502 Bad Gateway"
    ):
        http.send_messages([outgoing(1)])


def test_a_reply_for_another_request_id_is_refused(http, blaze_server):
    blaze_server.http_respond = reply(200, {"data": {}}, **{"X-Request-Id": "someone-else"})
    with pytest.raises(ServerError, match="does not match"):
        http.send_messages([outgoing(1)])


def test_401_with_the_servers_clock_far_ahead_says_clock_skew(http, blaze_server):
    server_ns = str(int((time.time() + 900) * 1e9))
    error = {
        "error": {"status": 202, "code": 401, "description": "Unauthorized, maybe invalid token."}
    }
    blaze_server.http_respond = reply(202, error, **{"X-Server-Time": server_ns})
    with pytest.raises(Unauthorized) as caught:
        http.send_messages([outgoing(1)])
    assert caught.value.reason == "clock skew"
    assert caught.value.skew_seconds == pytest.approx(900, abs=5)
    assert "clock is 900 s behind the server's" in str(caught.value)


def test_401_with_a_correct_clock_says_invalid_credentials(http, blaze_server):
    server_ns = str(int(time.time() * 1e9))
    error = {
        "error": {"status": 202, "code": 401, "description": "Unauthorized, maybe invalid token."}
    }
    blaze_server.http_respond = reply(202, error, **{"X-Server-Time": server_ns})
    with pytest.raises(Unauthorized) as caught:
        http.me()
    assert caught.value.reason == "invalid credentials"
    assert "keystore" in str(caught.value)


def test_a_slow_reply_times_out(keystore, blaze_server):
    blaze_server.http_delay = 1.0
    http = HttpTransport(keystore, blaze_server.api_url, timeout=0.2)
    try:
        with pytest.raises(RequestTimeout):
            http.send_messages([outgoing(1)])
    finally:
        http.close()


def test_a_refused_connection_is_connection_lost(keystore):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    http = HttpTransport(keystore, f"http://127.0.0.1:{port}", timeout=1.0)
    try:
        with pytest.raises(ConnectionLost):
            http.send_messages([outgoing(1)])
    finally:
        http.close()


def test_acknowledgements_go_in_requests_of_at_most_100(http, blaze_server):
    ids = [outgoing(i).message_id for i in range(250)]
    http.acknowledge(ids, status="READ")
    bodies = [json.loads(r.body) for r in blaze_server.http_requests]
    assert [len(b) for b in bodies] == [100, 100, 50]
    assert [entry["message_id"] for b in bodies for entry in b] == ids
    assert {entry["status"] for b in bodies for entry in b} == {"READ"}


def test_create_conversation_sends_the_contact_id(http, blaze_server):
    user = "d1e9ec7e-199d-4578-91a0-a69d9a7ba048"
    assert http.create_conversation(user) == unique_conversation_id(BOT_ID, user)
    body = json.loads(blaze_server.http_requests[0].body)
    assert body["category"] == "CONTACT" and body["participants"] == [{"user_id": user}]
