"""Mixin's derived ids: UniqueConversationId, UniqueObjectId, and blazecast's message ids.

Both derivations are MD5 with the UUID version-3 and RFC 4122 variant bits forced, exactly as
``GO:utils.go`` does (spec §4.5). ``UniqueConversationId`` sorts its two arguments;
``UniqueObjectId`` does not, so the order of its parts matters.
"""

from __future__ import annotations

import hashlib
import uuid

UuidLike = str | uuid.UUID


def canonical_uuid(value: UuidLike, field: str = "uuid") -> str:
    """The lowercase 8-4-4-4-12 form of ``value``; ``ValueError`` naming ``field`` otherwise."""
    if isinstance(value, uuid.UUID):
        return str(value)
    try:
        parsed = uuid.UUID(value)
    except (ValueError, AttributeError, TypeError):
        raise ValueError(f"{field}: {value!r} is not a UUID") from None
    # uuid.UUID also accepts braces, "urn:uuid:" and bare hex; Mixin wants the plain form only.
    if len(value) != 36:
        raise ValueError(f"{field}: {value!r} is not in the 8-4-4-4-12 UUID form")
    return str(parsed)


# The RFC 4122 variant forces the two top bits of byte 8 to 10: its first hex digit becomes one
# of 8, 9, a, b.
_VARIANT_DIGIT = {digit: f"{(int(digit, 16) & 0x3) | 0x8:x}" for digit in "0123456789abcdef"}


def _md5_uuid(data: bytes) -> str:
    # Built from the hex digest as text: the sender derives one per message, and going through
    # uuid.UUID cost twice as much.
    h = hashlib.md5(data, usedforsecurity=False).hexdigest()
    # Version 3 is the first digit of byte 6; the variant, the first digit of byte 8.
    return f"{h[:8]}-{h[8:12]}-3{h[13:16]}-{_VARIANT_DIGIT[h[16]]}{h[17:20]}-{h[20:]}"


def _sorted_pair_id(a: str, b: str) -> str:
    first, second = sorted((a, b))  # byte-wise order of the ASCII strings, as Go compares them
    return _md5_uuid((first + second).encode())


def unique_conversation_id(a: str, b: str) -> str:
    """The CONTACT conversation id between users ``a`` and ``b`` (order does not matter).

    UUIDs are lowercased first: Mixin always uses the lowercase form (spec §4.5 step 1).
    """
    return _sorted_pair_id(a.lower(), b.lower())


def unique_object_id(*parts: str) -> str:
    """MD5-derived UUID over the concatenated ``parts``, in the order given."""
    return _md5_uuid("".join(parts).encode())


def group_conversation_id(
    owner_id: str, name: str, participant_ids: list[str], random_id: str
) -> str:
    """The GROUP conversation id, chained as ``GO:utils.go`` ``GroupConversationId`` does."""
    # No lowercasing here: the group name is free text and is hashed exactly as given.
    group_id = _sorted_pair_id(owner_id, name)
    group_id = _sorted_pair_id(group_id, random_id)
    for participant in sorted(participant_ids):
        group_id = _sorted_pair_id(group_id, participant)
    return group_id


def message_id_for(announcement_id: UuidLike, recipient_id: UuidLike) -> str:
    """The deterministic ``message_id`` of one announcement to one recipient.

    ``UniqueObjectId(announcement, recipient)`` over the lowercase UUID strings, announcement
    first, so every retry, redelivery or crash recovery re-sends the same id (spec, "What
    blazecast relies on" 1).
    """
    announcement = canonical_uuid(announcement_id, "announcement_id")
    recipient = canonical_uuid(recipient_id, "recipient_id")
    return unique_object_id(announcement, recipient)
