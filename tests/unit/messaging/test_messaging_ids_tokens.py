"""The spec's test vectors: UniqueConversationId, UniqueObjectId, message ids and the JWT."""

from __future__ import annotations

import hashlib
import json
import uuid

import pytest
from messaging_helpers import BOT_ID, SESSION_ID, verify_token

from worker.messaging.mixin.ids import (
    group_conversation_id,
    message_id_for,
    unique_conversation_id,
    unique_object_id,
)
from worker.messaging.mixin.keystore import Keystore
from worker.messaging.mixin.tokens import request_signature, sign_request_token

ANNOUNCEMENT = "3f1c2d4e-5a6b-4c7d-8e9f-0a1b2c3d4e5f"
RECIPIENT = "d1e9ec7e-199d-4578-91a0-a69d9a7ba048"

SPEC_TOKEN = (
    "eyJhbGciOiJFZERTQSIsInR5cCI6IkpXVCJ9."
    "eyJleHAiOjE3MDAwMDM2MDAsImlhdCI6MTcwMDAwMDAwMCwianRpIjoiMDAwMDAwMDAtMDAwMC00MDAwLTgwMDAt"
    "MDAwMDAwMDAwMDAxIiwic2NwIjoiRlVMTCIsInNpZCI6IjIyMjIyMjIyLTIyMjItNDIyMi04MjIyLTIyMjIyMjIy"
    "MjIyMiIsInNpZyI6ImY4MzdlYmViNGMyOTgxYWQ5YzY0YjcwZDBiMGQxODcyNGM3NmM2MDc4MWI5ZTRiZjdhNTgy"
    "NTEwZGY3YWRhMzkiLCJ1aWQiOiIxMTExMTExMS0xMTExLTQxMTEtODExMS0xMTExMTExMTExMTEifQ."
    "ZfXxHVaTQn6pW6lPbJxq1o45EOzqXZqiybI3QpNFZOmogas6wncyNS4UFaOMIBHhGZ8yWLSrooy7jvKW9fRZCQ"
)


@pytest.mark.parametrize(
    "first, second",
    [
        ("965e5c6e-434c-3fa9-b780-c50f43cd955c", RECIPIENT),
        (RECIPIENT, "965e5c6e-434c-3fa9-b780-c50f43cd955c"),
        ("965E5C6E-434C-3FA9-B780-C50F43CD955C", RECIPIENT.upper()),
    ],
)
def test_unique_conversation_id_matches_the_spec_vector_in_any_order_and_case(first, second):
    assert unique_conversation_id(first, second) == "60478c27-1052-3df5-b938-b96a8b907e76"


def test_group_conversation_id_matches_the_go_sdk_vector():
    participants = [
        "f937ca18-d1ff-46f5-99e8-e23fbd6fd5f2",
        "0e0a20c8-31b8-4093-81b8-9cebd9bc8afc",
        "8391e472-cdbe-4704-be1f-7d184635b885",
        "831fdb67-13ed-4dc5-ac64-dda89aeda2bb",
        "f7ff9dde-18c2-4375-8097-b364068b120e",
        "088c1e3e-1f07-4065-85b5-6b49b4370d32",
    ]
    result = group_conversation_id(
        "c8cb0ac7-d456-4341-be66-0b143aa09922",
        "Mixin Rocks",
        participants,
        "01d21e2c-76f5-4940-8ea0-9b7f21728674",
    )
    assert result == "5dac944e-2037-31b4-bbd9-e5fd3ffe571e"


def test_unique_object_id_depends_on_order_as_the_spec_vectors_show():
    assert unique_object_id(ANNOUNCEMENT, RECIPIENT) == "d6a862bd-7f0e-32b4-91f2-93ef4128ad02"
    assert unique_object_id(RECIPIENT, ANNOUNCEMENT) == "3e187b89-a231-37af-8e1c-2953bf2a9eb9"


def test_derived_ids_set_version_3_and_the_variant_for_every_digit_as_uuid3_does():
    # 512 inputs give every first digit of bytes 6 and 8 many times over.
    for n in range(512):
        part = f"part-{n}"
        digest = hashlib.md5(part.encode(), usedforsecurity=False).digest()
        assert unique_object_id(part) == str(uuid.UUID(bytes=digest, version=3))


def test_message_id_is_deterministic_and_announcement_first():
    expected = "d6a862bd-7f0e-32b4-91f2-93ef4128ad02"
    assert message_id_for(ANNOUNCEMENT, RECIPIENT) == expected
    # The same pair given as UUID objects or upper case still yields the same id.
    assert message_id_for(uuid.UUID(ANNOUNCEMENT), uuid.UUID(RECIPIENT)) == expected
    assert message_id_for(ANNOUNCEMENT.upper(), RECIPIENT.upper()) == expected
    parsed = uuid.UUID(expected)
    assert parsed.version == 3 and parsed.variant == uuid.RFC_4122


@pytest.mark.parametrize(
    "announcement, recipient, field",
    [
        ("not-a-uuid", RECIPIENT, "announcement_id"),
        (ANNOUNCEMENT, "{d1e9ec7e-199d-4578-91a0-a69d9a7ba048}", "recipient_id"),
    ],
)
def test_message_id_refuses_a_bad_uuid_naming_the_argument(announcement, recipient, field):
    with pytest.raises(ValueError, match=field):
        message_id_for(announcement, recipient)


def test_the_spec_jwt_vector_is_reproduced_byte_for_byte(keystore: Keystore):
    token = sign_request_token(
        keystore, "GET", "/", now=1700000000, jti="00000000-0000-4000-8000-000000000001"
    )
    assert token == SPEC_TOKEN
    assert keystore.public_key_base64 == "A6EHv_POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg"


def test_sig_covers_method_path_with_query_and_exact_body(keystore: Keystore):
    body = json.dumps([{"message_id": "x"}], separators=(",", ":"))
    token = sign_request_token(keystore, "post", "/messages?limit=5", body, now=1700000000)
    claims = verify_token(token, keystore.public_key_base64)
    assert claims["sig"] == request_signature("POST", "/messages?limit=5", body.encode())
    assert claims["sig"] != request_signature("POST", "/messages", body.encode())
    assert request_signature("GET", "/") == (
        "f837ebeb4c2981ad9c64b70d0b0d18724c76c60781b9e4bf7a582510df7ada39"
    )
    assert (claims["uid"], claims["sid"], claims["scp"]) == (BOT_ID, SESSION_ID, "FULL")
    assert claims["exp"] > claims["iat"] == 1700000000


def test_each_token_gets_a_fresh_jti(keystore: Keystore):
    first = verify_token(
        sign_request_token(keystore, "GET", "/", now=1), keystore.public_key_base64
    )
    second = verify_token(
        sign_request_token(keystore, "GET", "/", now=1), keystore.public_key_base64
    )
    assert first["jti"] != second["jti"]
