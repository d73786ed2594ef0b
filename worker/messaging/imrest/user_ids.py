"""Recipient ids of the IM REST provider: int64 JSON numbers, kept at or below 2^53 − 1.

The API's ids are int64 (spec §1.4), and blazecast keeps every id it puts in a JSON body within
2^53 − 1 so that any parser on the path (a JavaScript proxy, a JSON library reading doubles)
keeps it exact: a larger id could silently reach someone else. A Mixin UUID, a signed or
decimal number, or anything with other characters is refused with one line naming the field.
"""

from __future__ import annotations

import re

MAX_USER_ID = 2**53 - 1
_DIGITS = re.compile(r"^[0-9]{1,20}$")
_SHOWN_CHARS = 40


def check_user_id(raw: str, field: str = "user_id") -> str:
    """The canonical decimal text of an IM REST user id; ``ValueError`` naming ``field``."""
    text = raw.strip() if isinstance(raw, str) else ""
    shown = text[:_SHOWN_CHARS] + ("…" if len(text) > _SHOWN_CHARS else "")
    if not _DIGITS.match(text):
        hint = " (a Mixin UUID, not an IM REST id)" if _looks_like_uuid(text) else ""
        raise ValueError(f"{field} {shown!r}: an IM REST user id is a positive integer{hint}")
    value = int(text)
    if value == 0:
        raise ValueError(f"{field} {shown!r}: an IM REST user id is a positive integer")
    if value > MAX_USER_ID:
        raise ValueError(
            f"{field} {shown}: beyond 2^53 - 1 ({MAX_USER_ID}), which JSON parsers cannot "
            f"keep exact"
        )
    return str(value)


def _looks_like_uuid(text: str) -> bool:
    return len(text) == 36 and text.count("-") == 4
