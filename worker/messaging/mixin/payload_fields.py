"""Field checks for message payloads, each failing with a ``PayloadError`` that names the field.

``ObjectFields`` reads one JSON object at a path such as ``APP_CARD`` or
``APP_BUTTON_GROUP[2]``, so an error reads ``APP_BUTTON_GROUP[2].color: must be #RRGGBB``.
Booleans are never accepted where numbers are expected (JSON ``true`` is not a width).
"""

from __future__ import annotations

import base64
import binascii
import math
import re
import uuid
from typing import Any
from urllib.parse import urlsplit

from worker.messaging.provider import InvalidContent

_COLOR = re.compile(r"#[0-9A-Fa-f]{6}")
_URL_SCHEMES = frozenset({"http", "https", "mixin"})


class PayloadError(InvalidContent):
    """A payload is invalid; ``field`` is its path, ``reason`` what is wrong with it."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


def is_url(value: str) -> bool:
    """True for an absolute http(s) URL with a host, or a ``mixin://`` schema link."""
    parts = urlsplit(value)
    if parts.scheme not in _URL_SCHEMES:
        return False
    return bool(parts.netloc) if parts.scheme != "mixin" else len(value) > len("mixin://")


def is_base64(value: str) -> bool:
    """True when ``value`` decodes as base64 in either alphabet, padding optional."""
    normalized = value.replace("-", "+").replace("_", "/")
    try:
        base64.b64decode(normalized + "=" * (-len(normalized) % 4), validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


def expect_object(value: Any, path: str) -> ObjectFields:
    """Wrap ``value`` for field checks, or fail if it is not a JSON object."""
    if not isinstance(value, dict):
        raise PayloadError(path, "must be a JSON object")
    return ObjectFields(value, path)


def expect_list(value: Any, path: str, *, min_items: int, max_items: int | None) -> list[Any]:
    """``value`` as a list of ``min_items..max_items`` entries."""
    if not isinstance(value, list):
        raise PayloadError(path, "must be a JSON array")
    if len(value) < min_items or (max_items is not None and len(value) > max_items):
        bound = f"{min_items}..{max_items}" if max_items is not None else f"at least {min_items}"
        raise PayloadError(path, f"must hold {bound} items, not {len(value)}")
    return value


class ObjectFields:
    """Typed accessors over one JSON object; each check names ``path.field`` when it fails."""

    def __init__(self, obj: dict[str, Any], path: str) -> None:
        self.obj = obj
        self.path = path

    def name(self, field: str) -> str:
        """The full path of ``field``, as errors print it."""
        return f"{self.path}.{field}"

    def fail(self, field: str, reason: str) -> PayloadError:
        """A ``PayloadError`` for ``field``, to raise."""
        return PayloadError(self.name(field), reason)

    def present(self, field: str) -> bool:
        """Mixin treats empty strings and nulls as absent (spec §3.2)."""
        return self.obj.get(field) not in (None, "")

    def _get(self, field: str, required: bool) -> Any:
        if not self.present(field):
            if required:
                raise self.fail(field, "is required")
            return None
        return self.obj[field]

    def text(
        self, field: str, *, required: bool = True, min_chars: int = 1, max_chars: int | None = None
    ) -> str | None:
        """A string of ``min_chars..max_chars`` characters (Unicode code points)."""
        value = self._get(field, required)
        if value is None:
            return None
        if not isinstance(value, str):
            raise self.fail(field, "must be a string")
        if len(value) < min_chars or (max_chars is not None and len(value) > max_chars):
            bound = f"{min_chars}..{max_chars}" if max_chars is not None else f">= {min_chars}"
            raise self.fail(field, f"must be {bound} characters, not {len(value)}")
        return value

    def uuid(self, field: str, *, required: bool = True) -> str | None:
        """A lowercase 8-4-4-4-12 UUID string (Mixin ids are always lowercase)."""
        value = self._get(field, required)
        if value is None:
            return None
        if not isinstance(value, str) or not is_uuid(value):
            raise self.fail(field, "must be a lowercase UUID")
        return value

    def integer(
        self,
        field: str,
        *,
        required: bool = True,
        minimum: int | None = None,
        maximum: int | None = None,
        unit: str = "",
    ) -> int | None:
        """An integer within ``minimum..maximum``."""
        value = self._get(field, required)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(field, "must be an integer")
        suffix = f" {unit}" if unit else ""
        if minimum is not None and value < minimum:
            raise self.fail(field, f"must be at least {minimum}{suffix}, not {value}")
        if maximum is not None and value > maximum:
            raise self.fail(field, f"must be at most {maximum}{suffix}, not {value}")
        return value

    def number(self, field: str, *, minimum: float, maximum: float) -> float:
        """A finite JSON number within ``minimum..maximum`` (always required)."""
        value = self._get(field, True)
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            raise self.fail(field, "must be a number")
        if not minimum <= value <= maximum:
            raise self.fail(field, f"must be within {minimum}..{maximum}, not {value}")
        return float(value)

    def boolean(self, field: str) -> bool | None:
        """An optional JSON boolean."""
        value = self.obj.get(field)
        if value is None:
            return None
        if not isinstance(value, bool):
            raise self.fail(field, "must be true or false")
        return value

    def url(self, field: str, *, required: bool = True) -> str | None:
        """An absolute http(s) URL (or a ``mixin://`` link)."""
        value = self.text(field, required=required)
        if value is not None and not is_url(value):
            raise self.fail(field, "must be an absolute http(s) URL")
        return value

    def base64(self, field: str, *, required: bool = False) -> str | None:
        """A base64 string (either alphabet), such as a thumbnail or a waveform."""
        value = self.text(field, required=required)
        if value is not None and not is_base64(value):
            raise self.fail(field, "must be base64")
        return value

    def color(self, field: str) -> str:
        """A required ``#RRGGBB`` color."""
        value = self.text(field)
        if value is None or not _COLOR.fullmatch(value):
            raise self.fail(field, "must be a color in the form #RRGGBB")
        return value

    def one_of(self, field: str, choices: tuple[str, ...]) -> str:
        """A required string from ``choices``."""
        value = self.text(field)
        if value not in choices:
            raise self.fail(field, f"must be one of {', '.join(choices)}")
        return value


def is_uuid(value: str) -> bool:
    """True for a canonical lowercase UUID string."""
    try:
        return str(uuid.UUID(value)) == value
    except ValueError:
        return False
