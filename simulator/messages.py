"""Parsing one outgoing message object (spec §3.2, checklist item 10) into a checked value.

Accepts what the official SDKs send: `data_base64` or `data` (the former wins when both are
given), either base64 alphabet, padding optional; empty-string optional fields count as absent.
Any violation is a 10002 whose `extra` names the field, the message's index in the batch and its
message_id.
"""

from __future__ import annotations

import binascii
from dataclasses import dataclass
from typing import Any

from simulator.errors import forbidden, invalid_field
from simulator.ids import is_lowercase_uuid
from simulator.payloads import BOT_CATEGORIES, PLAIN_CATEGORIES, PayloadRules, check_payload

_TO_STANDARD_ALPHABET = str.maketrans("-_", "+/")


def decode_lenient_base64(text: str) -> bytes:
    """base64 in either alphabet (`+/` or `-_`), with or without padding."""
    standard = text.translate(_TO_STANDARD_ALPHABET).rstrip("=")
    standard += "=" * (-len(standard) % 4)
    return binascii.a2b_base64(standard, strict_mode=True)


@dataclass(slots=True)
class OutgoingMessage:
    """A message object that passed validation; `recipient_id` may still need inferring."""

    index: int
    message_id: str
    conversation_id: str
    recipient_id: str | None
    category: str
    payload: bytes
    # For MESSAGE_RECALL: the id of the message being recalled.
    recalls: str | None


def _optional_text(obj: dict[str, Any], key: str) -> str | None:
    value = obj.get(key)
    return None if value is None or value == "" else value


def parse_message(
    obj: Any, index: int, rules: PayloadRules, *, plain_only: bool
) -> OutgoingMessage:
    """Check one message object; raises ApiError 10002 (or 403 for representative_id)."""
    if not isinstance(obj, dict):
        raise invalid_field("message", "must be a JSON object", index=index)
    message_id = obj.get("message_id")
    context: dict[str, Any] = {"index": index, "message_id": message_id}
    if not is_lowercase_uuid(message_id):
        raise invalid_field("message_id", "must be a lowercase UUID", **context)
    if not is_lowercase_uuid(obj.get("conversation_id")):
        raise invalid_field("conversation_id", "must be a lowercase UUID", **context)
    recipient_id = _optional_text(obj, "recipient_id")
    if recipient_id is not None and not is_lowercase_uuid(recipient_id):
        raise invalid_field("recipient_id", "must be a lowercase UUID", **context)

    category = obj.get("category")
    if not isinstance(category, str) or category not in BOT_CATEGORIES:
        raise invalid_field("category", f"{category!r} is not a category bots may send", **context)
    if plain_only and category not in PLAIN_CATEGORIES:
        raise invalid_field(
            "category", "CREATE_PLAIN_MESSAGES accepts PLAIN_* categories only", **context
        )

    quote_message_id = _optional_text(obj, "quote_message_id")
    if quote_message_id is not None and not is_lowercase_uuid(quote_message_id):
        raise invalid_field("quote_message_id", "must be a lowercase UUID", **context)
    if _optional_text(obj, "representative_id") is not None:
        # Needs the MESSAGES:REPRESENT permission (§3.2), which simulated bots do not hold.
        raise forbidden("representative_id needs the MESSAGES:REPRESENT permission", **context)
    if "silent" in obj and not isinstance(obj["silent"], bool):
        raise invalid_field("silent", "must be true or false", **context)

    field = "data_base64" if _optional_text(obj, "data_base64") is not None else "data"
    encoded = obj.get(field)
    if not isinstance(encoded, str) or not encoded:
        raise invalid_field("data_base64", "data_base64 (or data) is required", **context)
    try:
        payload = decode_lenient_base64(encoded)
    except (binascii.Error, ValueError):
        raise invalid_field(field, "is not base64", **context) from None
    if not payload:
        raise invalid_field(field, "decodes to an empty payload", **context)
    parsed = check_payload(category, payload, field, rules, context)
    recalls = parsed.get("message_id") if category == "MESSAGE_RECALL" else None
    return OutgoingMessage(
        index=index,
        message_id=message_id,
        conversation_id=obj["conversation_id"],
        recipient_id=recipient_id,
        category=category,
        payload=payload,
        recalls=recalls,
    )
