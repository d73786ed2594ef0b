"""Blaze frames, sans I/O: gzip JSON envelopes in, typed values out (spec §2, §3).

Every frame, both ways, is a binary websocket message holding the gzip of one JSON object
``{id, action, params | data | error}``. This module encodes requests, decodes server frames,
and tells a push (receipt, incoming message) from a reply. It never touches a socket.
"""

from __future__ import annotations

import gzip
import json
import re
import uuid
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from worker.messaging.errors import MessagingError, classify
from worker.messaging.mixin.ids import unique_conversation_id
from worker.messaging.mixin.payloads import decode_data
from worker.messaging.transport import IncomingMessage, Receipt

# Go uses level 3; any level is accepted. Low levels keep the CPU free for the sender.
_GZIP_LEVEL = 3
_GZIP_WBITS = 16 + zlib.MAX_WBITS  # zlib's way of saying "a gzip header and trailer"
# Postgres stores any of these; outside them a time is the server's mistake.
_EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
_LATEST = datetime(9000, 1, 1, tzinfo=UTC)
_CANONICAL_UUID = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}", re.ASCII
)
#: The id of the server's unsolicited ERROR frame (the websocket 401), spec §1.4.
ZERO_ID = "00000000-0000-0000-0000-000000000000"


#: Largest decompressed frame accepted. A message body is at most 128 KB (spec §5.3), about
#: 172 KB once base64-encoded in a push; a frame inflating past this is skipped, unread, rather
#: than let a small gzip bomb grow into gigabytes of memory.
MAX_FRAME_BYTES = 1 << 20
#: The most that deflate can expand its input (zlib's FAQ: "the limit is 1032:1").
_MAX_DEFLATE_RATIO = 1032


class FrameError(ValueError):
    """A frame that is not the gzip of one JSON object; the connection cannot be trusted."""


class OversizedFrame(FrameError):
    """A frame that inflates past ``MAX_FRAME_BYTES``: skipped, the connection goes on."""


@dataclass(frozen=True, slots=True)
class ServerFrame:
    """One decoded server frame; ``error`` is set on failure replies and ERROR frames."""

    id: str
    action: str
    data: Any = None
    error: Mapping[str, Any] | None = None


def encode_frame(envelope: Mapping[str, Any]) -> bytes:
    """The binary payload for ``envelope``: gzip of its compact UTF-8 JSON."""
    body = json.dumps(envelope, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    # mtime=0 keeps frames byte-identical for identical envelopes (reproducible tests).
    return gzip.compress(body, compresslevel=_GZIP_LEVEL, mtime=0)


def decode_frame(payload: bytes, max_bytes: int = MAX_FRAME_BYTES) -> dict[str, Any]:
    """The JSON object inside one binary frame; ``FrameError`` if it is anything else.

    Inflates at most ``max_bytes`` (``OversizedFrame`` beyond): the server's input is untrusted.
    """
    # One gzip member per frame; zlib parses its header in C (gzip.decompress does it in Python,
    # a quarter of the listener's time), and checks its CRC all the same.
    try:
        if len(payload) * _MAX_DEFLATE_RATIO <= max_bytes:
            # Too small to inflate past the limit (a receipt's frame is ~200 bytes): inflated in
            # one call, without the bounded decompressor object that costs a fifth as much again.
            body = zlib.decompress(payload, wbits=_GZIP_WBITS)
        else:
            body = _inflate_at_most(payload, max_bytes)
    except zlib.error as exc:
        raise FrameError(f"frame is not gzip: {exc}") from None
    try:
        value = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FrameError(f"frame is not UTF-8 JSON: {exc}") from None
    if not isinstance(value, dict):
        raise FrameError("frame is not a JSON object")
    return value


def _inflate_at_most(payload: bytes, max_bytes: int) -> bytes:
    inflater = zlib.decompressobj(wbits=_GZIP_WBITS)
    body = inflater.decompress(payload, max_bytes)
    if inflater.unconsumed_tail:
        raise OversizedFrame(f"frame inflates past {max_bytes} bytes")
    if not inflater.eof:
        raise FrameError("frame is not gzip: truncated")
    return body


def request_envelope(
    action: str, params: Mapping[str, Any] | None = None, request_id: str | None = None
) -> dict[str, Any]:
    """A client request; ``params`` is omitted when empty, as the Go SDK does."""
    envelope: dict[str, Any] = {"id": request_id or str(uuid.uuid4()), "action": action}
    if params:
        envelope["params"] = dict(params)
    return envelope


def parse_server_frame(value: Mapping[str, Any]) -> ServerFrame:
    """Check the envelope fields of a decoded server frame."""
    frame_id, action = value.get("id"), value.get("action")
    if not isinstance(frame_id, str) or not isinstance(action, str):
        raise FrameError("frame lacks a string id or action")
    error = value.get("error")
    if error is not None and not isinstance(error, dict):
        raise FrameError("frame error is not an object")
    return ServerFrame(id=frame_id, action=action, data=value.get("data"), error=error)


def frame_error(frame: ServerFrame) -> MessagingError:
    """The classified error carried by an error reply or an ERROR frame."""
    error = frame.error or {}
    code = error.get("code")
    # The docs' own example misspells it "desciption" (spec §2.3); read both.
    description = error.get("description") or error.get("desciption") or "no description"
    status = error.get("status")
    return classify(
        code if isinstance(code, int) else 0,
        str(description),
        status=status if isinstance(status, int) else None,
        extra=error.get("extra"),
        request_id=frame.id,
    )


def is_own_status_view(data: Any, own_user_id: str) -> bool:
    """True for the status-only view that answers the bot's own ``CREATE_MESSAGE``.

    The official apps recognise it by ``user_id == self`` with an empty category or
    conversation (spec §2.3); a late reply of that shape must not pass for a user's message.
    """
    return (
        isinstance(data, dict)
        and data.get("user_id") == own_user_id
        and (not data.get("category") or not data.get("conversation_id"))
    )


def push_from_frame(frame: ServerFrame, own_user_id: str) -> Receipt | IncomingMessage | None:
    """The receipt or incoming message a push carries; ``None`` for anything else.

    Call it only for frames that matched no waiting request (replies are matched by id first).
    """
    data = frame.data
    if frame.error is not None or not isinstance(data, dict):
        return None
    if (
        frame.action == "ACKNOWLEDGE_MESSAGE_RECEIPT"
        or data.get("source") == "ACKNOWLEDGE_MESSAGE_RECEIPT"
    ):
        status = data.get("status")
        message_id = data.get("message_id")
        if status not in ("DELIVERED", "READ"):  # also refuses unhashable JSON values
            return None
        if not is_uuid(message_id):
            return None
        return Receipt(
            message_id=str(message_id), status=status, updated_at=parse_time(data.get("updated_at"))
        )
    if frame.action != "CREATE_MESSAGE" or is_own_status_view(data, own_user_id):
        return None
    return _incoming(data, own_user_id)


def is_uuid(value: Any) -> bool:
    """True for a canonical UUID string (the only form of every Mixin id)."""
    # A pattern, not uuid.UUID() (which also accepts hyphens anywhere): this runs for every
    # receipt, and the pattern costs less than half as much (docs/decisions/0001).
    return isinstance(value, str) and _CANONICAL_UUID.fullmatch(value) is not None


def _incoming(data: Mapping[str, Any], own_user_id: str) -> IncomingMessage | None:
    # Only a message with a valid id can be acknowledged: without one, nothing can be done.
    # Other fields are strings here and judged by the handler (a bad user or conversation id is
    # acknowledged and ignored, so that it is not pushed again for ever).
    fields = {k: data.get(k) for k in ("message_id", "conversation_id", "user_id", "category")}
    if not is_uuid(fields["message_id"]) or not all(isinstance(v, str) for v in fields.values()):
        return None
    # data_base64 (url-safe, unpadded) is preferred when both are present (spec §6.1).
    encoded = data.get("data_base64") or data.get("data") or ""
    try:
        payload = decode_data(encoded) if isinstance(encoded, str) else b""
    except ValueError:
        payload = b""
    return IncomingMessage(
        message_id=str(fields["message_id"]),
        conversation_id=str(fields["conversation_id"]),
        user_id=str(fields["user_id"]),
        category=str(fields["category"]),
        data=payload,
        created_at=parse_time(data.get("created_at")),
        direct=_is_direct(str(fields["conversation_id"]), str(fields["user_id"]), own_user_id),
    )


def _is_direct(conversation_id: str, user_id: str, own_user_id: str) -> bool:
    """Whether the conversation is the 1:1 one of the bot and the user (UniqueConversationId)."""
    if not is_uuid(user_id):
        return False
    return conversation_id.lower() == unique_conversation_id(own_user_id, user_id)


def parse_time(value: Any) -> datetime:
    """An RFC 3339 timestamp (nanoseconds allowed) as an aware UTC datetime.

    A missing, unreadable or out-of-range time (year 9999 with an offset overflows) becomes
    "now": a receipt's moment matters less than the receipt itself, and dropping it would lose a
    DELIVERED or READ forever.
    """
    if isinstance(value, str) and len(value) <= 64:
        try:
            parsed = datetime.fromisoformat(value)
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=UTC)
            parsed = parsed.astimezone(UTC)
        except (ValueError, OverflowError):
            return datetime.now(UTC)
        if _EARLIEST <= parsed <= _LATEST:
            return parsed
    return datetime.now(UTC)
