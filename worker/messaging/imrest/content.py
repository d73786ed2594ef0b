"""What an IM REST announcement can carry, validated at ``announce create`` (spec §1.4, §2.6).

blazecast's categories map onto the API's ``content_type``: PLAIN_TEXT → TEXT, and PLAIN_IMAGE,
PLAIN_AUDIO, PLAIN_VIDEO and PLAIN_DATA → IMAGE, AUDIO, VIDEO and FILE, whose ``attachment`` is
a string of JSON naming the file's ``url`` (the seed's examples: ``url``, ``dName``, ``fLen``,
``width``, ``height``, ``duration``). Every other category is refused with one line naming it.

The operator writes text for PLAIN_TEXT, and for a file a JSON object:
``{"url": "https://…/poster.jpg", "name": "poster.jpg", "size": 508728, "width": 828,
"height": 828, "caption": "Tonight's maintenance"}`` (``url`` required; ``duration`` in seconds
for audio and video). The stored payload is the compact JSON ``{"content_type", "content",
"attachment"}``, read back by ``decode_payload`` before each send.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from worker.messaging.imrest.send_request import ContentType
from worker.messaging.provider import InvalidContent, UnsupportedCategory

CATEGORY_CONTENT_TYPES: dict[str, ContentType] = {
    "PLAIN_TEXT": ContentType.TEXT,
    "PLAIN_IMAGE": ContentType.IMAGE,
    "PLAIN_AUDIO": ContentType.AUDIO,
    "PLAIN_VIDEO": ContentType.VIDEO,
    "PLAIN_DATA": ContentType.FILE,
}
#: Room left in a 128 KB request for 100 targets, the ext marker and the JSON around them.
MAX_CONTENT_BYTES = 120 * 1024
MAX_URL_CHARS = 2048
#: Operator's field → the attachment field of the seed's examples, and its type.
_FILE_FIELDS: dict[str, tuple[str, type]] = {
    "name": ("dName", str),
    "size": ("fLen", int),
    "width": ("width", float),
    "height": ("height", float),
    "duration": ("duration", float),
}


@dataclass(frozen=True, slots=True)
class Content:
    """The request fields of one announcement: the same for every batch (spec §3.1)."""

    content_type: ContentType
    content: str
    attachment: str | None


def encode_content(category: str, content: Any) -> str:
    """Validate an operator's content for ``category``; the payload to store with it."""
    kind = CATEGORY_CONTENT_TYPES.get(category)
    if kind is None:
        carried = ", ".join(CATEGORY_CONTENT_TYPES)
        raise UnsupportedCategory(f"category {category}: IM REST bots carry only {carried}")
    if kind is ContentType.TEXT:
        if not isinstance(content, str) or not content.strip():
            raise InvalidContent(f"{category}: the text must be a non-empty string")
        built = Content(kind, content, None)
    else:
        built = _file(category, kind, content)
    payload = {
        "content_type": int(built.content_type),
        "content": built.content,
        "attachment": built.attachment,
    }
    text = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
    if len(text.encode("utf-8")) > MAX_CONTENT_BYTES:
        raise InvalidContent(f"{category}: the content is larger than {MAX_CONTENT_BYTES} bytes")
    return text


def decode_payload(payload: str) -> Content:
    """The stored payload as request fields; ``InvalidContent`` if it was damaged."""
    try:
        raw = json.loads(payload)
        kind = ContentType(raw["content_type"])
        content, attachment = raw["content"], raw.get("attachment")
    except (ValueError, TypeError, KeyError):
        raise InvalidContent("the stored IM REST payload is not one encode_content wrote") from None
    if not isinstance(content, str) or not (attachment is None or isinstance(attachment, str)):
        raise InvalidContent("the stored IM REST payload is not one encode_content wrote")
    return Content(kind, content, attachment)


def _file(category: str, kind: ContentType, content: Any) -> Content:
    if not isinstance(content, dict):
        raise InvalidContent(f"{category}: expected a JSON object with the file's url")
    unknown = sorted(set(content) - {"url", "caption", *_FILE_FIELDS})
    if unknown:
        raise InvalidContent(f"{category}.{unknown[0]}: unknown field")
    url = content.get("url")
    if not isinstance(url, str):
        raise InvalidContent(f"{category}.url: must be an http(s) URL")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise InvalidContent(f"{category}.url: must be an http(s) URL")
    if len(url) > MAX_URL_CHARS:
        raise InvalidContent(f"{category}.url: longer than {MAX_URL_CHARS} characters")
    attachment: dict[str, Any] = {"url": url}
    for name, (wire, kind_of) in _FILE_FIELDS.items():
        if name in content:
            attachment[wire] = _typed(category, name, content[name], kind_of)
    caption = content.get("caption", "")
    if not isinstance(caption, str):
        raise InvalidContent(f"{category}.caption: must be a string")
    text = json.dumps(attachment, separators=(",", ":"), ensure_ascii=False)
    return Content(kind, caption, text)


def _typed(category: str, name: str, value: Any, kind_of: type) -> Any:
    if kind_of is str:
        if not isinstance(value, str) or not value:
            raise InvalidContent(f"{category}.{name}: must be a non-empty string")
        return value
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise InvalidContent(f"{category}.{name}: must be a non-negative number")
    if kind_of is int and value != int(value):
        raise InvalidContent(f"{category}.{name}: must be a whole number of bytes")
    return int(value) if kind_of is int else float(value)
