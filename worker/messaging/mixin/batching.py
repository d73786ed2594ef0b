"""Batch limits: at most 100 messages and 128 KB of request body (spec §3.3, §4.2, §5.3).

The sources disagree on whether 128 KB applies per message or per request, so blazecast applies
it to the whole serialized request, which satisfies both readings (spec, "What blazecast relies
on" 2). The size counted is the uncompressed JSON of the websocket ``CREATE_PLAIN_MESSAGES``
frame, which is the HTTP ``POST /messages`` array plus a constant envelope; so a batch that fits
here fits over either transport.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from worker.messaging.errors import InvalidData
from worker.messaging.transport import OutgoingMessage

MAX_BATCH_MESSAGES = 100
MAX_BATCH_BYTES = 128 * 1024

# The websocket envelope around the array, with a request id of the canonical UUID length.
_ENVELOPE_OVERHEAD = len(
    json.dumps(
        {
            "id": "00000000-0000-0000-0000-000000000000",
            "action": "CREATE_PLAIN_MESSAGES",
            "params": {"messages": []},
        },
        separators=(",", ":"),
    )
)


def wire_size(message: OutgoingMessage) -> int:
    """Bytes one message adds to a request body (its compact JSON, without the comma)."""
    return len(json.dumps(message.to_wire(), separators=(",", ":")).encode())


def batch_body_size(messages: Sequence[OutgoingMessage]) -> int:
    """Bytes of the largest request body that carries ``messages`` (the websocket frame's JSON)."""
    # One dumps of the array (its brackets are already in the envelope's overhead) is several
    # times cheaper than one per message, and this runs for every batch.
    array = json.dumps([m.to_wire() for m in messages], separators=(",", ":")).encode()
    return _ENVELOPE_OVERHEAD - 2 + len(array)


def split_batches(
    messages: Sequence[OutgoingMessage],
    max_messages: int = MAX_BATCH_MESSAGES,
    max_bytes: int = MAX_BATCH_BYTES,
) -> list[list[OutgoingMessage]]:
    """Split ``messages``, in order, into batches within both limits.

    Greedy: each batch takes messages until the next one would break a limit. A message that is
    too large even alone gets a batch of its own, so it fails by itself (the transport refuses
    it with ``InvalidData``) and never holds back the messages around it.
    """
    if max_messages < 1:
        raise ValueError("max_messages must be at least 1")
    if len(messages) <= max_messages and batch_body_size(messages) <= max_bytes:
        return [list(messages)] if messages else []
    batches: list[list[OutgoingMessage]] = []
    current: list[OutgoingMessage] = []
    current_bytes = _ENVELOPE_OVERHEAD
    for message in messages:
        size = wire_size(message)
        extra = size + (1 if current else 0)
        if current and (len(current) >= max_messages or current_bytes + extra > max_bytes):
            batches.append(current)
            current, current_bytes = [], _ENVELOPE_OVERHEAD
            extra = size
        current.append(message)
        current_bytes += extra
    if current:
        batches.append(current)
    return batches


def check_batch(
    messages: Sequence[OutgoingMessage],
    max_messages: int = MAX_BATCH_MESSAGES,
    max_bytes: int = MAX_BATCH_BYTES,
) -> None:
    """Refuse, before any network call, a batch that the provider would reject for its size.

    Raises ``InvalidData`` whose ``extra`` names the field, like the server's 10002 would.
    """
    if not messages:
        raise ValueError("a batch needs at least one message")
    if len(messages) > max_messages:
        raise InvalidData(
            f"batch holds {len(messages)} messages; at most {max_messages} are allowed",
            extra={"field": "messages", "count": len(messages), "limit": max_messages},
        )
    size = batch_body_size(messages)
    if size > max_bytes:
        largest = max(messages, key=wire_size)
        raise InvalidData(
            f"batch body is {size} bytes; at most {max_bytes} are allowed",
            extra={
                "field": "messages",
                "bytes": size,
                "limit": max_bytes,
                "largest_message_id": largest.message_id,
            },
        )
