"""Message payloads: build, validate and encode the ``data`` of every bot-sendable category.

``build_payload`` turns what an operator wrote (text, or a JSON object or array) into the raw
payload bytes after checking the documented rules (``payload_categories``); ``encode_data``
turns those bytes into ``data_base64``, base64url without padding as the current Go SDK and
docs send it (spec §6.1). ``validate_payload`` re-checks raw bytes, for example before a
stored announcement is sent. Errors are ``PayloadError`` naming the field::

    >>> build_payload("APP_CARD", {"app_id": "...", "title": "x" * 40, "description": "d"})
    PayloadError: APP_CARD.title: must be 1..36 characters, not 40
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from worker.messaging.mixin.payload_categories import JSON_CHECKS
from worker.messaging.mixin.payload_fields import PayloadError

__all__ = [
    "BOT_CATEGORIES",
    "MAX_PAYLOAD_BYTES",
    "PLAIN_CATEGORIES",
    "PayloadError",
    "build_payload",
    "decode_data",
    "encode_data",
    "validate_payload",
]

#: Payloads that are raw UTF-8 text rather than JSON (PLAIN_POST is Markdown).
TEXT_CATEGORIES = ("PLAIN_TEXT", "PLAIN_POST")

#: Every category a bot may send, in the order of the spec's table.
BOT_CATEGORIES: tuple[str, ...] = (
    "PLAIN_TEXT",
    "PLAIN_POST",
    "PLAIN_IMAGE",
    "PLAIN_DATA",
    "PLAIN_STICKER",
    "PLAIN_CONTACT",
    "PLAIN_AUDIO",
    "PLAIN_VIDEO",
    "PLAIN_LIVE",
    "PLAIN_LOCATION",
    "PLAIN_TRANSCRIPT",
    "APP_CARD",
    "APP_BUTTON_GROUP",
    "MESSAGE_RECALL",
    "MESSAGE_PIN",
)

#: The categories ``CREATE_PLAIN_MESSAGES`` is documented for ("only support plain category").
PLAIN_CATEGORIES: tuple[str, ...] = tuple(c for c in BOT_CATEGORIES if c.startswith("PLAIN_"))

#: The largest payload whose base64 still fits one 128 KB request, with room for the message
#: fields and the request envelope (base64 grows 3 bytes into 4 characters).
MAX_PAYLOAD_BYTES = (128 * 1024 - 1024) * 3 // 4


def encode_data(raw: bytes) -> str:
    """``data_base64``: base64url of ``raw`` without padding."""
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def decode_data(text: str) -> bytes:
    """Decode ``data`` or ``data_base64`` leniently: either alphabet, padding optional.

    Mixin sends incoming ``data`` in standard padded base64 and ``data_base64`` in base64url
    without padding (spec §6.1); this reads both. Raises ``ValueError`` on anything else.
    """
    normalized = text.strip().replace("-", "+").replace("_", "/")
    try:
        return base64.b64decode(normalized + "=" * (-len(normalized) % 4), validate=True)
    except binascii.Error:
        raise ValueError("data is not base64") from None


def build_payload(category: str, content: str | dict[str, Any] | list[Any]) -> bytes:
    """Validate ``content`` for ``category`` and return the raw payload bytes.

    For PLAIN_TEXT and PLAIN_POST ``content`` is the text itself. For the other categories it
    is the JSON object (or array) of the payload, or its JSON text.
    """
    _check_category(category)
    if category in TEXT_CATEGORIES:
        if not isinstance(content, str):
            raise PayloadError(f"{category}.data", "must be text")
        raw = content.encode("utf-8")
    else:
        if isinstance(content, str):
            content = _parse_json(category, content.encode("utf-8"))
        raw = json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    validate_payload(category, raw)
    return raw


def validate_payload(category: str, raw: bytes) -> None:
    """Check raw payload bytes against the rules of ``category``; raises ``PayloadError``."""
    _check_category(category)
    if len(raw) > MAX_PAYLOAD_BYTES:
        raise PayloadError(
            f"{category}.data",
            f"is {len(raw)} bytes; at most {MAX_PAYLOAD_BYTES} fit in one 128 KB request",
        )
    if category in TEXT_CATEGORIES:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise PayloadError(f"{category}.data", "must be UTF-8 text") from None
        if not text:
            raise PayloadError(f"{category}.data", "must not be empty")
        return
    JSON_CHECKS[category](_parse_json(category, raw), category)


def _check_category(category: str) -> None:
    if category not in BOT_CATEGORIES:
        raise PayloadError(
            "category",
            f"{category!r} is not a category bots can send ({', '.join(BOT_CATEGORIES)})",
        )


def _parse_json(category: str, raw: bytes) -> Any:
    try:
        return json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise PayloadError(f"{category}.data", "must be UTF-8 JSON") from None
    except json.JSONDecodeError as exc:
        raise PayloadError(
            f"{category}.data", f"is not valid JSON (line {exc.lineno}, column {exc.colno})"
        ) from None
