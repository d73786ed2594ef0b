"""Payload rules per category (spec §6.2): valid payloads pass, each violation names its field."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from simulator import Simulator
from tests.simulator.conftest import read_keystore
from tests.simulator.wire_client import HttpApi, json_message, text_message

ATTACHMENT = "0b9f2c4e-2f7b-4b51-8a6e-6c2b7f0d9a01"
BUTTON = {"label": "Open", "color": "#00AAFF", "action": "https://example.com"}
CARD = {"app_id": "d1e9ec7e-199d-4578-91a0-a69d9a7ba048", "title": "News", "description": "Today", "actions": [BUTTON]}
IMAGE = {"attachment_id": ATTACHMENT, "mime_type": "image/png", "width": 10, "height": 20, "size": 300}

VALID: list[tuple[str, Any]] = [
    ("PLAIN_IMAGE", IMAGE),
    ("PLAIN_VIDEO", {**IMAGE, "mime_type": "video/mp4", "duration": 1200}),
    ("PLAIN_DATA", {"attachment_id": ATTACHMENT, "mime_type": "text/plain", "size": 3, "name": "a.txt"}),
    ("PLAIN_AUDIO", {"attachment_id": ATTACHMENT, "mime_type": "audio/ogg", "size": 3, "duration": 60000}),
    ("PLAIN_STICKER", {"sticker_id": ATTACHMENT}),
    ("PLAIN_STICKER", {"album_id": ATTACHMENT, "name": "wave"}),
    ("PLAIN_CONTACT", {"user_id": ATTACHMENT}),
    ("PLAIN_LIVE", {"width": 1, "height": 1, "thumb_url": "https://t", "url": "https://u", "shareable": True}),
    ("PLAIN_LOCATION", {"longitude": 120.1, "latitude": 30.2}),
    ("PLAIN_TRANSCRIPT", [{"message_id": ATTACHMENT, "transcript_id": ATTACHMENT}]),
    ("APP_BUTTON_GROUP", [BUTTON] * 6),
    ("APP_CARD", CARD),
    ("MESSAGE_PIN", {"action": "PIN", "message_ids": [ATTACHMENT]}),
]

INVALID: list[tuple[str, Any, str]] = [
    ("PLAIN_IMAGE", {**IMAGE, "width": 0}, "data_base64.width"),
    ("PLAIN_IMAGE", {**IMAGE, "attachment_id": "x"}, "data_base64.attachment_id"),
    ("PLAIN_IMAGE", "not an object", "data_base64"),
    ("PLAIN_AUDIO", {"attachment_id": ATTACHMENT, "mime_type": "audio/ogg", "size": 3, "duration": 60001},
     "data_base64.duration"),
    ("PLAIN_DATA", {"attachment_id": ATTACHMENT, "mime_type": "text/plain", "size": 3}, "data_base64.name"),
    ("PLAIN_STICKER", {"name": "wave"}, "data_base64.sticker_id"),
    ("PLAIN_CONTACT", {"user_id": "X"}, "data_base64.user_id"),
    ("PLAIN_LOCATION", {"longitude": 0, "latitude": 0}, "data_base64.latitude"),
    ("PLAIN_LOCATION", {"longitude": 200, "latitude": 1}, "data_base64.longitude"),
    ("PLAIN_TRANSCRIPT", [], "data_base64"),
    ("APP_BUTTON_GROUP", [BUTTON] * 7, "data_base64"),
    ("APP_BUTTON_GROUP", [{**BUTTON, "label": "x" * 37}], "data_base64[0].label"),
    ("APP_BUTTON_GROUP", [{**BUTTON, "color": "blue"}], "data_base64[0].color"),
    ("APP_CARD", {**CARD, "title": "t" * 37}, "data_base64.title"),
    ("APP_CARD", {**CARD, "description": ""}, "data_base64.description"),
    ("APP_CARD", {**CARD, "actions": [{**BUTTON, "action": ""}]}, "data_base64.actions[0].action"),
    ("MESSAGE_PIN", {"action": "STICK", "message_ids": [ATTACHMENT]}, "data_base64.action"),
    ("MESSAGE_RECALL", {"message_id": "nope"}, "data_base64.message_id"),
]


@pytest.mark.parametrize(("category", "payload"), VALID)
def test_valid_payloads_pass(api: HttpApi, sim: Simulator, category: str, payload: Any) -> None:
    message = json_message(sim.bot_id, sim.user_ids[0], category, payload)
    assert api.request("POST", "/messages", [message]).json() == {}


@pytest.mark.parametrize(("category", "payload", "field"), INVALID)
def test_invalid_payloads_name_the_field(api: HttpApi, sim: Simulator, category: str, payload: Any, field: str) -> None:
    message = json_message(sim.bot_id, sim.user_ids[0], category, payload)
    error = api.request("POST", "/messages", [message]).json()["error"]
    assert error["code"] == 10002
    assert error["extra"]["field"] == field
    assert error["extra"]["message_id"] == message["message_id"]


def test_text_must_be_utf8_and_json_categories_must_be_json(api: HttpApi, sim: Simulator) -> None:
    bad_text = text_message(sim.bot_id, sim.user_ids[0], payload=b"\xff\xfe")
    assert api.request("POST", "/messages", [bad_text]).json()["error"]["extra"]["field"] == "data_base64"
    not_json = text_message(sim.bot_id, sim.user_ids[0], category="PLAIN_IMAGE", payload=b"{", field="data")
    assert api.request("POST", "/messages", [not_json]).json()["error"]["extra"]["field"] == "data"


def test_lenient_mode_skips_shape_rules_but_not_json(make_sim: Callable[..., Simulator]) -> None:
    sim = make_sim(strict_payloads=False)
    with HttpApi(sim.http_url, read_keystore(sim)) as api:
        odd = json_message(sim.bot_id, sim.user_ids[0], "PLAIN_IMAGE", {"width": 0})
        assert api.request("POST", "/messages", [odd]).json() == {}
        not_json = text_message(sim.bot_id, sim.user_ids[0], category="PLAIN_IMAGE", payload=b"{")
        assert api.request("POST", "/messages", [not_json]).json()["error"]["code"] == 10002


def test_recall_marks_the_earlier_message_and_is_not_visible(api: HttpApi, sim: Simulator) -> None:
    original = text_message(sim.bot_id, sim.user_ids[0])
    assert api.request("POST", "/messages", [original]).json() == {}
    recall = json_message(sim.bot_id, sim.user_ids[0], "MESSAGE_RECALL", {"message_id": original["message_id"]})
    assert api.request("POST", "/messages", [recall]).json() == {}
    state = sim.message(original["message_id"])
    assert state is not None and state["recalled"] is True
    stats = sim.stats()
    assert (stats["visible_messages"], stats["recalls"], stats["distinct_message_ids"]) == (1, 1, 2)
