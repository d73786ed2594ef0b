"""make_transport and BlazeTransport: which path each category takes."""

from __future__ import annotations

import json

import pytest
from messaging_helpers import outgoing

from worker.messaging.factory import make_transport
from worker.messaging.mixin.blaze_transport import BlazeTransport
from worker.messaging.mixin.http import HttpTransport
from worker.messaging.transport import Transport


def test_blaze_sends_plain_over_the_websocket_and_cards_over_http(keystore, blaze_server):
    transport = make_transport(
        "blaze", keystore, api_url=blaze_server.api_url, blaze_url=blaze_server.url, timeout=2.0
    )
    try:
        assert isinstance(transport, BlazeTransport) and isinstance(transport, Transport)
        assert transport.name == "blaze"
        plain = [outgoing(1), outgoing(2)]
        cards = [outgoing(3, category="APP_CARD"), outgoing(4, category="MESSAGE_RECALL")]
        transport.send_messages(plain + cards)
        (frame,) = blaze_server.requests
        assert frame["action"] == "CREATE_PLAIN_MESSAGES"
        assert frame["params"]["messages"] == [m.to_wire() for m in plain]
        (post,) = blaze_server.http_requests
        assert post.path == "/messages" and json.loads(post.body) == [m.to_wire() for m in cards]
    finally:
        transport.close()


def test_http_sends_everything_over_post_messages(keystore, blaze_server):
    transport = make_transport(
        "http", keystore, api_url=blaze_server.api_url, blaze_url=blaze_server.url
    )
    try:
        assert isinstance(transport, HttpTransport) and transport.name == "http"
        transport.send_messages([outgoing(1), outgoing(2, category="APP_BUTTON_GROUP")])
        assert blaze_server.upgrades == 0 and len(blaze_server.http_requests) == 1
    finally:
        transport.close()


def test_unknown_kinds_are_refused(keystore):
    with pytest.raises(ValueError, match="unknown transport 'smtp'"):
        make_transport("smtp", keystore, api_url="http://127.0.0.1:1", blaze_url="ws://127.0.0.1:1")
