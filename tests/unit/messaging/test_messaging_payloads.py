"""Payload builders and validators for every bot-sendable category, with the documented limits."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from worker.messaging.mixin.payloads import (
    BOT_CATEGORIES,
    MAX_PAYLOAD_BYTES,
    PLAIN_CATEGORIES,
    PayloadError,
    build_payload,
    decode_data,
    encode_data,
    validate_payload,
)

ID = "d1e9ec7e-199d-4578-91a0-a69d9a7ba048"
OTHER = "3f1c2d4e-5a6b-4c7d-8e9f-0a1b2c3d4e5f"
BUTTON = {"label": "Mixin Website", "color": "#ABABAB", "action": "https://mixin.one"}

VALID: dict[str, Any] = {
    "PLAIN_TEXT": "Hello 👋",
    "PLAIN_POST": "# Release notes\n\n* faster",
    "PLAIN_IMAGE": {
        "attachment_id": ID,
        "mime_type": "image/jpeg",
        "width": 1024,
        "height": 768,
        "size": 2048,
        "thumbnail": "iVBORw0KGgo=",
    },
    "PLAIN_DATA": {
        "attachment_id": ID,
        "mime_type": "application/pdf",
        "size": 1024,
        "name": "a.pdf",
    },
    "PLAIN_STICKER": {"sticker_id": ID},
    "PLAIN_CONTACT": {"user_id": ID},
    "PLAIN_AUDIO": {
        "attachment_id": ID,
        "mime_type": "audio/ogg",
        "size": 1024,
        "duration": 60_000,
        "waveform": "QIQQSA",
    },
    "PLAIN_VIDEO": {
        "attachment_id": ID,
        "mime_type": "video/mp4",
        "width": 640,
        "height": 360,
        "size": 1024,
        "duration": 1500,
        "thumbnail": "abc-_w",
    },
    "PLAIN_LIVE": {
        "width": 650,
        "height": 366,
        "thumb_url": "https://mixin.one/logo.png",
        "url": "https://mixin.one/live.m3u8",
        "shareable": True,
    },
    "PLAIN_LOCATION": {
        "longitude": 126.5893955829421,
        "latitude": 53.47845177824066,
        "name": "China",
        "address": "中国北京市",
    },
    "PLAIN_TRANSCRIPT": [
        {
            "transcript_id": ID,
            "message_id": OTHER,
            "user_id": ID,
            "category": "PLAIN_TEXT",
            "content": "hi",
        }
    ],
    "APP_CARD": {
        "app_id": ID,
        "title": "Mixin",
        "description": "Hello World.",
        "cover_url": "https://mixin.one/c.png",
        "actions": [BUTTON],
        "shareable": False,
    },
    "APP_BUTTON_GROUP": [BUTTON, {"label": "Say hi", "color": "#00ff00", "action": "input:hi"}],
    "MESSAGE_RECALL": {"message_id": ID},
    "MESSAGE_PIN": {"action": "PIN", "message_ids": [ID, OTHER]},
}


def test_every_documented_bot_category_is_covered():
    assert set(BOT_CATEGORIES) == set(VALID)
    assert len(BOT_CATEGORIES) == 15
    assert set(PLAIN_CATEGORIES) == {c for c in BOT_CATEGORIES if c.startswith("PLAIN_")}


@pytest.mark.parametrize("category", sorted(VALID))
def test_valid_payloads_build_and_round_trip(category):
    raw = build_payload(category, VALID[category])
    validate_payload(category, raw)
    if isinstance(VALID[category], str):
        assert raw.decode() == VALID[category]
    else:
        assert json.loads(raw) == VALID[category]
        # JSON given as text builds the same payload as the object.
        assert build_payload(category, json.dumps(VALID[category])) == raw
    assert decode_data(encode_data(raw)) == raw


def with_(category: str, **changes: Any) -> dict[str, Any]:
    payload = dict(VALID[category])
    for key, value in changes.items():
        if value is ...:
            payload.pop(key)
        else:
            payload[key] = value
    return payload


INVALID = [
    ("PLAIN_TEXT", "", "PLAIN_TEXT.data: must not be empty"),
    ("PLAIN_TEXT", {"text": "x"}, "PLAIN_TEXT.data: must be text"),
    ("PLAIN_IMAGE", with_("PLAIN_IMAGE", width=0), "PLAIN_IMAGE.width: must be at least 1 px"),
    ("PLAIN_IMAGE", with_("PLAIN_IMAGE", height=True), "PLAIN_IMAGE.height: must be an integer"),
    (
        "PLAIN_IMAGE",
        with_("PLAIN_IMAGE", attachment_id="A" * 36),
        "PLAIN_IMAGE.attachment_id: must be a lowercase UUID",
    ),
    ("PLAIN_IMAGE", with_("PLAIN_IMAGE", thumbnail="***"), "PLAIN_IMAGE.thumbnail: must be base64"),
    ("PLAIN_DATA", with_("PLAIN_DATA", name=...), "PLAIN_DATA.name: is required"),
    ("PLAIN_DATA", with_("PLAIN_DATA", size=-1), "PLAIN_DATA.size: must be at least 0 bytes"),
    ("PLAIN_STICKER", {}, "PLAIN_STICKER.sticker_id: is required (or album_id with name)"),
    ("PLAIN_STICKER", {"album_id": ID}, "PLAIN_STICKER.name: is required"),
    ("PLAIN_CONTACT", {"user_id": "bob"}, "PLAIN_CONTACT.user_id: must be a lowercase UUID"),
    (
        "PLAIN_AUDIO",
        with_("PLAIN_AUDIO", duration=60_001),
        "PLAIN_AUDIO.duration: must be at most 60000 ms",
    ),
    (
        "PLAIN_AUDIO",
        with_("PLAIN_AUDIO", mime_type="video/mp4"),
        "PLAIN_AUDIO.mime_type: must be an audio type",
    ),
    (
        "PLAIN_AUDIO",
        with_("PLAIN_AUDIO", wave_form="QIQQSA"),
        "PLAIN_AUDIO.wave_form: the field is named waveform",
    ),
    ("PLAIN_VIDEO", with_("PLAIN_VIDEO", duration=...), "PLAIN_VIDEO.duration: is required"),
    (
        "PLAIN_LIVE",
        with_("PLAIN_LIVE", url="ftp://x/y"),
        "PLAIN_LIVE.url: must be an absolute http(s) URL",
    ),
    (
        "PLAIN_LIVE",
        with_("PLAIN_LIVE", shareable="yes"),
        "PLAIN_LIVE.shareable: must be true or false",
    ),
    (
        "PLAIN_LOCATION",
        with_("PLAIN_LOCATION", latitude=91),
        "PLAIN_LOCATION.latitude: must be within -90.0..90.0",
    ),
    (
        "PLAIN_LOCATION",
        {"latitude": 0, "longitude": 0},
        "PLAIN_LOCATION.latitude: latitude and longitude cannot both be 0",
    ),
    ("PLAIN_TRANSCRIPT", [], "PLAIN_TRANSCRIPT: must hold at least 1 items, not 0"),
    (
        "PLAIN_TRANSCRIPT",
        [{"transcript_id": ID, "category": "PLAIN_TEXT"}],
        "PLAIN_TRANSCRIPT[0].message_id: is required",
    ),
    (
        "APP_CARD",
        with_("APP_CARD", title="x" * 37),
        "APP_CARD.title: must be 1..36 characters, not 37",
    ),
    ("APP_CARD", with_("APP_CARD", title=...), "APP_CARD.title: is required"),
    (
        "APP_CARD",
        with_("APP_CARD", description="d" * 1025),
        "APP_CARD.description: must be 1..1024 characters, not 1025",
    ),
    ("APP_CARD", with_("APP_CARD", app_id=...), "APP_CARD.app_id: is required"),
    (
        "APP_CARD",
        with_("APP_CARD", actions=[{**BUTTON, "color": "red"}]),
        "APP_CARD.actions[0].color: must be a color in the form #RRGGBB",
    ),
    ("APP_BUTTON_GROUP", [], "APP_BUTTON_GROUP: must hold 1..6 items, not 0"),
    ("APP_BUTTON_GROUP", [BUTTON] * 7, "APP_BUTTON_GROUP: must hold 1..6 items, not 7"),
    (
        "APP_BUTTON_GROUP",
        [BUTTON, {**BUTTON, "label": "L" * 37}],
        "APP_BUTTON_GROUP[1].label: must be 1..36 characters, not 37",
    ),
    ("APP_BUTTON_GROUP", [{**BUTTON, "label": ""}], "APP_BUTTON_GROUP[0].label: is required"),
    (
        "APP_BUTTON_GROUP",
        [{**BUTTON, "action": "input:"}],
        "APP_BUTTON_GROUP[0].action: input: needs the text to send",
    ),
    (
        "APP_BUTTON_GROUP",
        [{**BUTTON, "action": "javascript:alert(1)"}],
        "APP_BUTTON_GROUP[0].action: must be an absolute http(s) URL or input:TEXT",
    ),
    ("APP_BUTTON_GROUP", {"label": "x"}, "APP_BUTTON_GROUP: must be a JSON array"),
    ("MESSAGE_RECALL", {}, "MESSAGE_RECALL.message_id: is required"),
    (
        "MESSAGE_PIN",
        {"action": "STICK", "message_ids": [ID]},
        "MESSAGE_PIN.action: must be one of PIN, UNPIN",
    ),
    (
        "MESSAGE_PIN",
        {"action": "PIN", "message_ids": [ID, "x"]},
        "MESSAGE_PIN.message_ids[1]: must be a lowercase UUID",
    ),
    ("APP_CARD", "{not json", "APP_CARD.data: is not valid JSON (line 1, column 2)"),
    ("PLAIN_SECRET", "hi", "category: 'PLAIN_SECRET' is not a category bots can send"),
]


@pytest.mark.parametrize(
    "category, content, message", INVALID, ids=[m.split(":")[0] for _, _, m in INVALID]
)
def test_invalid_payloads_name_the_field(category, content, message):
    with pytest.raises(PayloadError) as caught:
        build_payload(category, content)
    assert str(caught.value).startswith(message)
    field, _, reason = message.partition(": ")
    assert caught.value.field == field
    assert str(caught.value) == f"{caught.value.field}: {caught.value.reason}"


def test_labels_count_characters_not_bytes():
    build_payload("APP_BUTTON_GROUP", [{**BUTTON, "label": "按" * 36}])  # 108 UTF-8 bytes


def test_validate_payload_checks_raw_bytes():
    validate_payload("PLAIN_TEXT", "héllo".encode())
    with pytest.raises(PayloadError, match="PLAIN_TEXT.data: must be UTF-8 text"):
        validate_payload("PLAIN_TEXT", b"\xff\xfe")
    with pytest.raises(PayloadError, match=r"APP_CARD.title: must be 1\.\.36 characters"):
        validate_payload("APP_CARD", json.dumps(with_("APP_CARD", title="t" * 40)).encode())


def test_a_payload_too_big_for_one_request_is_refused():
    build_payload("PLAIN_TEXT", "x" * MAX_PAYLOAD_BYTES)
    with pytest.raises(PayloadError, match=r"PLAIN_TEXT.data: is \d+ bytes; at most"):
        build_payload("PLAIN_TEXT", "x" * (MAX_PAYLOAD_BYTES + 1))


def test_data_base64_is_url_safe_and_unpadded():
    raw = bytes([0xFB, 0xFF, 0xBF, 0x00])  # standard base64 "+/+/AA==" territory
    encoded = encode_data(raw)
    assert encoded == base64.urlsafe_b64encode(raw).decode().rstrip("=")
    assert "=" not in encoded and "+" not in encoded and "/" not in encoded
    assert encode_data("Hello 👋".encode()) == "SGVsbG8g8J-Riw"  # the spec's §3.2 example


def test_decode_accepts_both_alphabets_with_or_without_padding():
    raw = bytes(range(250))
    for text in (
        base64.b64encode(raw).decode(),
        encode_data(raw),
        base64.urlsafe_b64encode(raw).decode(),
    ):
        assert decode_data(text) == raw
    with pytest.raises(ValueError):
        decode_data("not base64!")
