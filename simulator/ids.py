"""UUID helpers of the Mixin protocol (spec §4.5): conversation ids and derived ids.

Kept apart from blazecast's own implementation on purpose (the simulator imports nothing from
`worker/`), so that a misreading of the spec does not hide on both sides.
"""

from __future__ import annotations

import hashlib
import random
import re
import uuid
from typing import TypeGuard

LOWERCASE_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def is_lowercase_uuid(value: object) -> TypeGuard[str]:
    """True for a canonical lowercase 8-4-4-4-12 UUID string, as the docs require."""
    return isinstance(value, str) and LOWERCASE_UUID.fullmatch(value) is not None


def _md5_uuid(data: bytes) -> str:
    digest = bytearray(hashlib.md5(data, usedforsecurity=False).digest())
    digest[6] = (digest[6] & 0x0F) | 0x30  # version 3
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    return str(uuid.UUID(bytes=bytes(digest)))


def unique_conversation_id(user_id: str, recipient_id: str) -> str:
    """`UniqueConversationId`: MD5 of the two lowercase ids in byte order, version 3."""
    low, high = sorted((user_id.lower(), recipient_id.lower()))
    return _md5_uuid((low + high).encode())


def unique_object_id(*parts: str) -> str:
    """`UniqueObjectId`: MD5 of the parts in the given order (order matters)."""
    return _md5_uuid("".join(parts).encode())


def random_uuid(rng: random.Random) -> str:
    """A version-4 UUID drawn from `rng`, so that a seed gives the same ids every run."""
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))
