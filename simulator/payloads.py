"""Per-category payload rules of spec §6.2, applied to the decoded `data`/`data_base64` bytes.

Strict mode checks the documented shapes and limits; lenient mode only requires JSON where the
category carries JSON. Every failure is a 10002 whose `field` names the payload key, e.g.
`data_base64.title`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any, NoReturn

from simulator.errors import invalid_field
from simulator.ids import is_lowercase_uuid

PLAIN_CATEGORIES = frozenset(
    {
        "PLAIN_TEXT",
        "PLAIN_POST",
        "PLAIN_IMAGE",
        "PLAIN_DATA",
        "PLAIN_AUDIO",
        "PLAIN_VIDEO",
        "PLAIN_STICKER",
        "PLAIN_CONTACT",
        "PLAIN_LIVE",
        "PLAIN_LOCATION",
        "PLAIN_TRANSCRIPT",
    }
)
BOT_CATEGORIES = PLAIN_CATEGORIES | {
    "APP_CARD",
    "APP_BUTTON_GROUP",
    "MESSAGE_RECALL",
    "MESSAGE_PIN",
}
TEXT_CATEGORIES = frozenset({"PLAIN_TEXT", "PLAIN_POST"})
# Control messages change other messages; they do not show up as a message of their own.
CONTROL_CATEGORIES = frozenset({"MESSAGE_RECALL", "MESSAGE_PIN"})

_COLOR = re.compile(r"#[0-9A-Fa-f]{6}")
# §6.2: PLAIN_AUDIO lasts at most 60 s (duration in ms); APP_CARD title 1..36, description 1..1024;
# button labels 1..36 (read as UTF-8 bytes, the stricter of the two documented readings).
MAX_AUDIO_MS = 60_000
MAX_LABEL_BYTES = 36
MAX_TITLE_CHARS = 36
MAX_DESCRIPTION_CHARS = 1024


class _Check:
    """Field assertions over one decoded JSON payload; raises 10002 on the first failure."""

    def __init__(self, payload: Any, prefix: str, context: dict[str, Any]) -> None:
        self.payload = payload
        self.prefix = prefix
        self.context = context

    def fail(self, key: str, reason: str) -> NoReturn:
        separator = "" if not key or key.startswith("[") else "."
        raise invalid_field(f"{self.prefix}{separator}{key}", reason, **self.context)

    def obj(self) -> dict[str, Any]:
        if not isinstance(self.payload, dict):
            self.fail("", "payload must be a JSON object")
        return dict(self.payload)

    def text(self, obj: dict[str, Any], key: str, *, optional: bool = False) -> None:
        value = obj.get(key)
        if value is None and optional:
            return
        if not isinstance(value, str) or not value:
            self.fail(key, "must be a non-empty string")

    def uuid(self, obj: dict[str, Any], key: str) -> None:
        if not is_lowercase_uuid(obj.get(key)):
            self.fail(key, "must be a lowercase UUID")

    def integer(
        self, obj: dict[str, Any], key: str, *, minimum: int = 0, optional: bool = False
    ) -> None:
        value = obj.get(key)
        if value is None and optional:
            return
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            self.fail(key, f"must be an integer >= {minimum}")

    def number(self, obj: dict[str, Any], key: str, bound: float) -> float:
        value = obj.get(key)
        if isinstance(value, bool) or not isinstance(value, int | float) or abs(value) > bound:
            self.fail(key, f"must be a number between -{bound} and {bound}")
        return float(value)

    def boolean(self, obj: dict[str, Any], key: str) -> None:
        if key in obj and not isinstance(obj[key], bool):
            self.fail(key, "must be true or false")

    def buttons(self, items: Any, key: str, max_buttons: int) -> None:
        if not isinstance(items, list) or not 1 <= len(items) <= max_buttons:
            self.fail(key, f"must be a list of 1 to {max_buttons} buttons")
        for index, button in enumerate(items):
            where = f"{key}[{index}]" if key else f"[{index}]"
            if not isinstance(button, dict):
                self.fail(where, "must be an object")
            label = button.get("label")
            if not isinstance(label, str) or not 1 <= len(label.encode()) <= MAX_LABEL_BYTES:
                self.fail(f"{where}.label", f"must be 1 to {MAX_LABEL_BYTES} bytes")
            if not isinstance(button.get("color"), str) or not _COLOR.fullmatch(button["color"]):
                self.fail(f"{where}.color", "must be #RRGGBB")
            if not isinstance(button.get("action"), str) or not button["action"]:
                self.fail(f"{where}.action", "must be a non-empty string")


def _attachment(c: _Check, *, dimensions: bool = False, duration: bool = False) -> dict[str, Any]:
    obj = c.obj()
    c.uuid(obj, "attachment_id")
    c.text(obj, "mime_type")
    c.integer(obj, "size")
    if dimensions:
        c.integer(obj, "width", minimum=1)
        c.integer(obj, "height", minimum=1)
    if duration:
        c.integer(obj, "duration", minimum=1)
    return obj


def _image(c: _Check, rules: PayloadRules) -> None:
    _attachment(c, dimensions=True)


def _video(c: _Check, rules: PayloadRules) -> None:
    _attachment(c, dimensions=True, duration=True)


def _audio(c: _Check, rules: PayloadRules) -> None:
    obj = _attachment(c, duration=True)
    if obj["duration"] > MAX_AUDIO_MS:
        c.fail("duration", f"must be at most {MAX_AUDIO_MS} ms")


def _data(c: _Check, rules: PayloadRules) -> None:
    c.text(_attachment(c), "name")


def _sticker(c: _Check, rules: PayloadRules) -> None:
    obj = c.obj()
    if not (obj.get("sticker_id") or (obj.get("album_id") and obj.get("name"))):
        c.fail("sticker_id", "needs sticker_id, or album_id and name")


def _live(c: _Check, rules: PayloadRules) -> None:
    obj = c.obj()
    c.integer(obj, "width", minimum=1)
    c.integer(obj, "height", minimum=1)
    c.text(obj, "thumb_url")
    c.text(obj, "url")
    c.boolean(obj, "shareable")


def _location(c: _Check, rules: PayloadRules) -> None:
    obj = c.obj()
    longitude = c.number(obj, "longitude", 180.0)
    latitude = c.number(obj, "latitude", 90.0)
    if longitude == 0.0 and latitude == 0.0:
        c.fail("latitude", "latitude and longitude cannot both be 0")


def _transcript(c: _Check, rules: PayloadRules) -> None:
    if not isinstance(c.payload, list) or not c.payload:
        c.fail("", "must be a non-empty JSON array")
    for index, item in enumerate(c.payload):
        if not isinstance(item, dict) or not is_lowercase_uuid(item.get("message_id")):
            c.fail(f"[{index}].message_id", "must be a lowercase UUID")


def _app_card(c: _Check, rules: PayloadRules) -> None:
    obj = c.obj()
    c.uuid(obj, "app_id")
    title, description = obj.get("title"), obj.get("description")
    if not isinstance(title, str) or not 1 <= len(title) <= MAX_TITLE_CHARS:
        c.fail("title", f"must be 1 to {MAX_TITLE_CHARS} characters")
    if not isinstance(description, str) or not 1 <= len(description) <= MAX_DESCRIPTION_CHARS:
        c.fail("description", f"must be 1 to {MAX_DESCRIPTION_CHARS} characters")
    if "actions" in obj:
        c.buttons(obj["actions"], "actions", rules.max_buttons)
    c.boolean(obj, "shareable")


def _pin(c: _Check, rules: PayloadRules) -> None:
    obj = c.obj()
    if obj.get("action") not in ("PIN", "UNPIN"):
        c.fail("action", "must be PIN or UNPIN")
    ids = obj.get("message_ids")
    if not isinstance(ids, list) or not ids or not all(is_lowercase_uuid(i) for i in ids):
        c.fail("message_ids", "must be a non-empty list of lowercase UUIDs")


class PayloadRules:
    """The knobs of payload checking: strictness and the APP_BUTTON_GROUP size."""

    def __init__(self, *, strict: bool, max_buttons: int) -> None:
        self.strict = strict
        self.max_buttons = max_buttons


_RULES: dict[str, Callable[[_Check, PayloadRules], None]] = {
    "PLAIN_IMAGE": _image,
    "PLAIN_VIDEO": _video,
    "PLAIN_DATA": _data,
    "PLAIN_AUDIO": _audio,
    "PLAIN_STICKER": _sticker,
    "PLAIN_CONTACT": lambda c, r: c.uuid(c.obj(), "user_id"),
    "PLAIN_LIVE": _live,
    "PLAIN_LOCATION": _location,
    "PLAIN_TRANSCRIPT": _transcript,
    "APP_BUTTON_GROUP": lambda c, r: c.buttons(c.payload, "", r.max_buttons),
    "APP_CARD": _app_card,
    "MESSAGE_RECALL": lambda c, r: c.uuid(c.obj(), "message_id"),
    "MESSAGE_PIN": _pin,
}


def check_payload(
    category: str, raw: bytes, field: str, rules: PayloadRules, context: dict[str, Any]
) -> Any:
    """Validate the decoded payload of one message; returns the parsed JSON (or None for text)."""
    if category in TEXT_CATEGORIES:
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError:
            raise invalid_field(field, "text payload is not UTF-8", **context) from None
        return None
    try:
        payload = json.loads(raw)
    except (UnicodeDecodeError, ValueError):
        raise invalid_field(field, f"{category} payload is not JSON", **context) from None
    if rules.strict or category == "MESSAGE_RECALL":
        _RULES[category](_Check(payload, field, context), rules)
    return payload
