"""Per-category payload rules for every category a bot may send (spec §6.2).

Each validator takes the decoded JSON value and raises ``PayloadError`` naming the field. The
limits are the documented ones: button labels 1..36 characters and 1..6 buttons per group
(the official docs; the Go SDK has allowed 18 since 2024, the clients document 6), card title
1..36 and description 1..1024 characters, audio at most 60 s. Unknown extra fields are left
alone: Mixin adds fields over time and the clients ignore what they do not know.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from worker.messaging.mixin.payload_fields import (
    ObjectFields,
    PayloadError,
    expect_list,
    expect_object,
    is_url,
    is_uuid,
)

MAX_BUTTONS = 6
MAX_LABEL_CHARS = 36
MAX_CARD_TITLE_CHARS = 36
MAX_CARD_DESCRIPTION_CHARS = 1024
MAX_AUDIO_DURATION_MS = 60_000
_INPUT_ACTION_PREFIX = "input:"


def _attachment(fields: ObjectFields) -> str:
    """Check the fields every attachment shares; returns the mime type."""
    fields.uuid("attachment_id")
    mime_type = fields.text("mime_type") or ""
    fields.integer("size", minimum=0, unit="bytes")
    return mime_type


def check_image(value: Any, path: str) -> None:
    """``{attachment_id, mime_type, width, height, size, thumbnail?}``; 0 sizes are invalid."""
    fields = expect_object(value, path)
    _attachment(fields)
    fields.integer("width", minimum=1, unit="px")
    fields.integer("height", minimum=1, unit="px")
    fields.base64("thumbnail")


def check_data(value: Any, path: str) -> None:
    """A file: ``{attachment_id, mime_type, size, name}``."""
    fields = expect_object(value, path)
    _attachment(fields)
    fields.text("name")


def check_sticker(value: Any, path: str) -> None:
    """``{sticker_id}`` (current docs) or ``{album_id, name}`` (older docs)."""
    fields = expect_object(value, path)
    if fields.present("sticker_id"):
        fields.uuid("sticker_id")
        return
    if fields.present("album_id") or fields.present("name"):
        fields.uuid("album_id")
        fields.text("name")
        return
    raise fields.fail("sticker_id", "is required (or album_id with name)")


def check_contact(value: Any, path: str) -> None:
    """A shared user: ``{user_id}``."""
    expect_object(value, path).uuid("user_id")


def check_audio(value: Any, path: str) -> None:
    """``{attachment_id, mime_type: audio/*, size, duration (ms, <= 60 s), waveform?}``."""
    fields = expect_object(value, path)
    mime_type = _attachment(fields)
    if not mime_type.startswith("audio/"):
        raise fields.fail("mime_type", "must be an audio type such as audio/ogg")
    fields.integer("duration", minimum=1, maximum=MAX_AUDIO_DURATION_MS, unit="ms")
    if "wave_form" in fields.obj:
        # Node and fox-one spell it wave_form; the apps read only "waveform" (spec §6.2).
        raise fields.fail("wave_form", "the field is named waveform")
    fields.base64("waveform")


def check_video(value: Any, path: str) -> None:
    """``{attachment_id, mime_type, width, height, size, duration (ms), thumbnail?}``."""
    fields = expect_object(value, path)
    _attachment(fields)
    fields.integer("width", minimum=1, unit="px")
    fields.integer("height", minimum=1, unit="px")
    fields.integer("duration", minimum=0, unit="ms")
    fields.base64("thumbnail")


def check_live(value: Any, path: str) -> None:
    """``{width, height, thumb_url, url, shareable?}``."""
    fields = expect_object(value, path)
    fields.integer("width", minimum=1, unit="px")
    fields.integer("height", minimum=1, unit="px")
    fields.url("thumb_url")
    fields.url("url")
    fields.boolean("shareable")


def check_location(value: Any, path: str) -> None:
    """``{longitude, latitude, name?, address?, venue_type?}``; (0, 0) is rejected as the apps do."""
    fields = expect_object(value, path)
    longitude = fields.number("longitude", minimum=-180.0, maximum=180.0)
    latitude = fields.number("latitude", minimum=-90.0, maximum=90.0)
    if longitude == 0 and latitude == 0:
        raise fields.fail("latitude", "latitude and longitude cannot both be 0")
    for optional in ("name", "address", "venue_type"):
        fields.text(optional, required=False)


def check_transcript(value: Any, path: str) -> None:
    """A JSON array of transcript items, each with ``transcript_id, message_id, category``."""
    items = expect_list(value, path, min_items=1, max_items=None)
    for index, item in enumerate(items):
        fields = expect_object(item, f"{path}[{index}]")
        fields.uuid("transcript_id")
        fields.uuid("message_id")
        fields.uuid("user_id", required=False)
        fields.text("category")


def _check_button(value: Any, path: str) -> None:
    fields = expect_object(value, path)
    fields.text("label", min_chars=1, max_chars=MAX_LABEL_CHARS)
    fields.color("color")
    action = fields.text("action")
    assert action is not None  # text() raises when a required field is absent
    if action.startswith(_INPUT_ACTION_PREFIX):
        if len(action) == len(_INPUT_ACTION_PREFIX):
            raise fields.fail("action", "input: needs the text to send")
    elif not is_url(action):
        raise fields.fail("action", "must be an absolute http(s) URL or input:TEXT")


def check_button_group(value: Any, path: str) -> None:
    """A JSON array of 1..6 buttons ``{label (1..36 chars), color (#RRGGBB), action}``."""
    buttons = expect_list(value, path, min_items=1, max_items=MAX_BUTTONS)
    for index, button in enumerate(buttons):
        _check_button(button, f"{path}[{index}]")


def check_card(value: Any, path: str) -> None:
    """``{app_id, title (1..36), description (1..1024), cover_url?, actions?, shareable?, ...}``."""
    fields = expect_object(value, path)
    fields.uuid("app_id")
    fields.text("title", min_chars=1, max_chars=MAX_CARD_TITLE_CHARS)
    fields.text("description", min_chars=1, max_chars=MAX_CARD_DESCRIPTION_CHARS)
    for url_field in ("icon_url", "cover_url", "action"):  # icon_url and action are deprecated
        fields.url(url_field, required=False)
    if "actions" in fields.obj and fields.obj["actions"] is not None:
        # The card's buttons follow the button-group rules [INFER]; an empty list means none.
        actions = expect_list(
            fields.obj["actions"], fields.name("actions"), min_items=0, max_items=MAX_BUTTONS
        )
        for index, button in enumerate(actions):
            _check_button(button, f"{fields.name('actions')}[{index}]")
    fields.boolean("shareable")


def check_recall(value: Any, path: str) -> None:
    """``{message_id}`` of a message the bot sent earlier."""
    expect_object(value, path).uuid("message_id")


def check_pin(value: Any, path: str) -> None:
    """``{action: PIN | UNPIN, message_ids: [uuid, ...]}``."""
    fields = expect_object(value, path)
    fields.one_of("action", ("PIN", "UNPIN"))
    ids = expect_list(
        fields.obj.get("message_ids"), fields.name("message_ids"), min_items=1, max_items=None
    )
    for index, message_id in enumerate(ids):
        if not isinstance(message_id, str) or not is_uuid(message_id):
            raise PayloadError(f"{fields.name('message_ids')}[{index}]", "must be a lowercase UUID")


#: Validators of the categories whose payload is JSON, keyed by category.
JSON_CHECKS: dict[str, Callable[[Any, str], None]] = {
    "PLAIN_IMAGE": check_image,
    "PLAIN_DATA": check_data,
    "PLAIN_STICKER": check_sticker,
    "PLAIN_CONTACT": check_contact,
    "PLAIN_AUDIO": check_audio,
    "PLAIN_VIDEO": check_video,
    "PLAIN_LIVE": check_live,
    "PLAIN_LOCATION": check_location,
    "PLAIN_TRANSCRIPT": check_transcript,
    "APP_CARD": check_card,
    "APP_BUTTON_GROUP": check_button_group,
    "MESSAGE_RECALL": check_recall,
    "MESSAGE_PIN": check_pin,
}
