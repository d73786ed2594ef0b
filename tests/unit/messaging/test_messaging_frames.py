"""Blaze frames as bytes: gzip JSON envelopes, replies vs pushes, receipts and incoming messages."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime

import pytest

from worker.messaging.errors import InvalidData, RateLimited, Unauthorized
from worker.messaging.mixin.frames import (
    FrameError,
    decode_frame,
    encode_frame,
    frame_error,
    parse_server_frame,
    push_from_frame,
    request_envelope,
)
from worker.messaging.transport import IncomingMessage, Receipt

BOT = "11111111-1111-4111-8111-111111111111"

# Frames exactly as the spec quotes them from TRACE2019 (§3.5, §2.3, §1.4).
RECEIPT = {
    "id": "cf69c7a2-787b-4a91-be22-f51f38338179",
    "action": "ACKNOWLEDGE_MESSAGE_RECEIPT",
    "data": {
        "type": "message",
        "representative_id": "",
        "quote_message_id": "",
        "conversation_id": "",
        "user_id": "",
        "message_id": "9054acea-1a62-4716-9fa3-1a8c70a2165a",
        "category": "",
        "data": "",
        "status": "DELIVERED",
        "source": "ACKNOWLEDGE_MESSAGE_RECEIPT",
        "created_at": "0001-01-01T00:00:00Z",
        "updated_at": "2019-01-10T03:44:23.236843Z",
    },
}
CREATE_REPLY_VIEW = {
    "type": "message",
    "representative_id": "",
    "quote_message_id": "",
    "conversation_id": "",
    "user_id": BOT,
    "message_id": "0b9f2c4e-2f7b-4b51-8a6e-6c2b7f0d9a01",
    "category": "",
    "data": "",
    "status": "SENT",
    "source": "CREATE_MESSAGE",
    "created_at": "2019-01-10T03:44:22.540536153Z",
    "updated_at": "2019-01-10T03:44:22.540536153Z",
}
AUTH_ERROR = {
    "id": "00000000-0000-0000-0000-000000000000",
    "action": "ERROR",
    "error": {"status": 202, "code": 401, "description": "Unauthorized, maybe invalid token."},
}


def test_frames_are_gzip_of_one_compact_json_object_and_round_trip():
    envelope = request_envelope(
        "LIST_PENDING_MESSAGES", request_id="5a7c1a8e-0b7e-4d0e-9a53-3f0f6f0c2b11"
    )
    payload = encode_frame(envelope)
    assert (
        gzip.decompress(payload)
        == b'{"id":"5a7c1a8e-0b7e-4d0e-9a53-3f0f6f0c2b11","action":"LIST_PENDING_MESSAGES"}'
    )
    assert decode_frame(payload) == envelope
    assert encode_frame(envelope) == payload  # deterministic bytes


@pytest.mark.parametrize(
    "payload, reason",
    [
        (b'{"id":"x"}', "not gzip"),
        (gzip.compress(b"\xff\xfe"), "not UTF-8 JSON"),
        (gzip.compress(b"[1,2]"), "not a JSON object"),
        (gzip.compress(b"{"), "not UTF-8 JSON"),
    ],
)
def test_undecodable_frames_raise_frame_error(payload, reason):
    with pytest.raises(FrameError, match=reason):
        decode_frame(payload)


def test_requests_carry_fresh_ids_and_omit_empty_params():
    first, second = (
        request_envelope("LIST_PENDING_MESSAGES"),
        request_envelope("LIST_PENDING_MESSAGES"),
    )
    assert first["id"] != second["id"] and "params" not in first
    assert request_envelope("CREATE_MESSAGE", {"a": 1})["params"] == {"a": 1}


def test_a_receipt_push_becomes_a_receipt_with_an_aware_utc_time():
    push = push_from_frame(parse_server_frame(decode_frame(encode_frame(RECEIPT))), BOT)
    assert push == Receipt(
        message_id="9054acea-1a62-4716-9fa3-1a8c70a2165a",
        status="DELIVERED",
        updated_at=datetime(2019, 1, 10, 3, 44, 23, 236843, tzinfo=UTC),
    )


def test_an_incoming_user_message_decodes_its_standard_base64_data():
    frame = {
        "id": "a41816ca-0000-4000-8000-000000000000",
        "action": "CREATE_MESSAGE",
        "data": {
            "type": "message",
            "conversation_id": "c5458ec8-0000-4000-8000-000000000000",
            "user_id": "28ee416a-0000-4000-8000-000000000000",
            "message_id": "a93ebfca-0000-4000-8000-000000000000",
            "category": "PLAIN_TEXT",
            "data": "emhlIHNoaSBnZSBzaGE=",
            "status": "SENT",
            "source": "LIST_PENDING_MESSAGES",
            "created_at": "2019-01-10T03:44:22.540536153+08:00",
        },
    }
    push = push_from_frame(parse_server_frame(frame), BOT)
    assert isinstance(push, IncomingMessage)
    assert push.data == b"zhe shi ge sha" and push.category == "PLAIN_TEXT"
    assert push.created_at == datetime(2019, 1, 9, 19, 44, 22, 540536, tzinfo=UTC)


def test_a_late_create_message_reply_is_not_mistaken_for_a_user_message():
    frame = parse_server_frame(
        {
            "id": "5a7c1a8e-0b7e-4d0e-9a53-3f0f6f0c2b11",
            "action": "CREATE_MESSAGE",
            "data": CREATE_REPLY_VIEW,
        }
    )
    assert push_from_frame(frame, BOT) is None


def test_the_websocket_401_frame_classifies_as_unauthorized():
    error = frame_error(parse_server_frame(AUTH_ERROR))
    assert isinstance(error, Unauthorized) and error.code == 401 and error.status == 202


def test_error_replies_keep_code_description_and_extra_and_read_the_docs_typo():
    frame = parse_server_frame(
        {
            "id": "r",
            "action": "CREATE_PLAIN_MESSAGES",
            "error": {
                "status": 202,
                "code": 10002,
                "description": "invalid field",
                "extra": {"field": "data_base64"},
            },
        }
    )
    error = frame_error(frame)
    assert (
        isinstance(error, InvalidData)
        and error.extra == {"field": "data_base64"}
        and error.request_id == "r"
    )
    typo = frame_error(
        parse_server_frame({"id": "r", "action": "X", "error": {"code": 429, "desciption": "slow"}})
    )
    assert isinstance(typo, RateLimited) and typo.description == "slow"


def test_frames_without_id_or_action_are_refused():
    with pytest.raises(FrameError):
        parse_server_frame(json.loads('{"action": "ERROR"}'))
