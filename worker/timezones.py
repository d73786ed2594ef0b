"""Time zone names from outside (files, flags, the API), looked up without ever raising.

``zoneinfo`` maps a name onto a path under the tz database: ``America`` is a folder
(``IsADirectoryError``), ``../x`` or a NUL byte is a ``ValueError``, a non-TZif file another
``ValueError``. Every caller wants "a zone, or a clear message naming the field".
"""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

# recipients.time_zone and announcements.time_zone are varchar(64); IANA names are far shorter.
MAX_ZONE_NAME_CHARS = 64


def load_zone(name: str) -> ZoneInfo | None:
    """The zone called ``name``, or None if no such zone exists (whatever ``name`` holds)."""
    if not name or len(name) > MAX_ZONE_NAME_CHARS:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None


def shown(value: object, limit: int = 40) -> str:
    """``repr(value)`` cut to ``limit`` characters, for one-line messages about bad input."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "…"
