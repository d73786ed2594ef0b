"""Blaze frame encoding and the exact JSON shapes the server sends (spec §2, §3).

Every frame is a binary websocket message holding the gzip of one JSON object (§2.1). The
receipt push is the hottest frame (two or more per message sent), so it is built from a fixed
template in the key order of the TRACE2019 capture (§3.5) instead of through `json.dumps`.
"""

from __future__ import annotations

import json
import random
import struct
import time
import zlib
from typing import Any

from simulator.errors import ApiError

GZIP_MAGIC = b"\x1f\x8b"
# gzip container (wbits 16 + 15), for decoding and for frames too large for one stored block.
_GZIP_WBITS = 31
_GZIP_LEVEL = 1
# A gzip header (deflate, no flags, no mtime, unknown OS) followed by one final stored block.
_STORED_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff\x01"
_MAX_STORED_BLOCK = 0xFFFF
# Push ids must be unique, not secret: a fast non-cryptographic generator will do.
_push_ids = random.Random()
ZERO_UUID = "00000000-0000-0000-0000-000000000000"
# Go's zero time, which receipts carry as created_at (§3.5).
ZERO_TIME = "0001-01-01T00:00:00Z"


class FrameError(ValueError):
    """A client frame that is not gzip of one JSON object."""


def gzip_member(data: bytes) -> bytes:
    """A gzip member holding `data`.

    §2.1 leaves the compression level free and clients accept any valid member; frames up to
    64 KB are sent as one *stored* (uncompressed) deflate block, which costs a CRC instead of a
    deflate stream per frame: receipts are the hottest path and gain nothing from compression
    over loopback.
    """
    size = len(data)
    if size > _MAX_STORED_BLOCK:
        return zlib.compress(data, _GZIP_LEVEL, _GZIP_WBITS)
    return b"".join(
        (
            _STORED_HEADER,
            struct.pack("<HH", size, size ^ 0xFFFF),
            data,
            struct.pack("<II", zlib.crc32(data), size),
        )
    )


def encode_frame(envelope: dict[str, Any]) -> bytes:
    """gzip(JSON) of one envelope, compact separators."""
    return gzip_member(json.dumps(envelope, separators=(",", ":"), ensure_ascii=False).encode())


def decode_frame(payload: bytes, max_bytes: int) -> tuple[dict[str, Any], int]:
    """The envelope in a client frame, and its uncompressed size in bytes.

    Decompression stops past `max_bytes` so that a small frame cannot expand without bound.
    """
    if not payload.startswith(GZIP_MAGIC):
        raise FrameError("frame is not gzip")
    inflater = zlib.decompressobj(_GZIP_WBITS)
    try:
        text = inflater.decompress(payload, max_bytes + 1)
    except zlib.error as error:
        raise FrameError(f"bad gzip stream: {error}") from None
    if len(text) > max_bytes:
        raise FrameError(f"frame expands beyond {max_bytes} bytes")
    if not inflater.eof:
        raise FrameError("truncated gzip stream")
    try:
        envelope = json.loads(text)
    except (UnicodeDecodeError, ValueError):
        raise FrameError("frame is not JSON") from None
    if not isinstance(envelope, dict):
        raise FrameError("frame is not a JSON object")
    return envelope, len(text)


_second_cache: tuple[int, str] = (-1, "")


def rfc3339(ns: int) -> str:
    """RFC 3339 UTC with nanoseconds, like Go's time.Time JSON ("…T03:44:22.540536153Z")."""
    global _second_cache
    seconds, fraction = divmod(ns, 1_000_000_000)
    cached_second, prefix = _second_cache
    if cached_second != seconds:
        prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
        _second_cache = (seconds, prefix)
    return f"{prefix}.{fraction:09d}Z"


def new_id() -> str:
    """A fresh version-4 UUID, as every push carries (§3.4)."""
    bits = _push_ids.getrandbits(128) & ~(0xF000 << 64) & ~(0xC000 << 48)
    digits = f"{bits | (0x4000 << 64) | (0x8000 << 48):032x}"
    return f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:]}"


def reply(request_id: str, action: str, data: Any = None) -> dict[str, Any]:
    """A success reply: bare `{id, action}` unless the action returns data (§3.1)."""
    envelope: dict[str, Any] = {"id": request_id, "action": action}
    if data is not None:
        envelope["data"] = data
    return envelope


def error_reply(request_id: str, action: str, error: ApiError) -> dict[str, Any]:
    """The same id and action as the request, plus `error` (§2.3)."""
    return {"id": request_id, "action": action, "error": error.body()}


def auth_error_push() -> dict[str, Any]:
    """The frame a websocket with a bad token gets before it is closed (§1.4, TRACE2019)."""
    return {"id": ZERO_UUID, "action": "ERROR", "error": ApiError(401).body()}


def sent_view(bot_id: str, message_id: str, created_at: str) -> dict[str, Any]:
    """The status-only MessageView of a CREATE_MESSAGE reply (§3.2)."""
    return _message_view(bot_id, message_id, "SENT", "CREATE_MESSAGE", created_at, created_at)


def status_view(message_id: str, status: str, updated_at: str) -> dict[str, Any]:
    """The MessageView of a status change: what a receipt push carries in `data` (§3.5)."""
    return _message_view(
        "", message_id, status, "ACKNOWLEDGE_MESSAGE_RECEIPT", ZERO_TIME, updated_at
    )


def _message_view(
    user_id: str, message_id: str, status: str, source: str, created_at: str, updated_at: str
) -> dict[str, Any]:
    """A MessageView that carries a status only: no conversation, category or data."""
    return {
        "type": "message",
        "representative_id": "",
        "quote_message_id": "",
        "conversation_id": "",
        "user_id": user_id,
        "message_id": message_id,
        "category": "",
        "data": "",
        "status": status,
        "source": source,
        "created_at": created_at,
        "updated_at": updated_at,
    }


# status_view() as a template: the receipt push is the hottest frame, so no json.dumps here.
_RECEIPT_TEMPLATE = (
    '{{"id":"{push_id}","action":"ACKNOWLEDGE_MESSAGE_RECEIPT","data":{{"type":"message",'
    '"representative_id":"","quote_message_id":"","conversation_id":"","user_id":"",'
    '"message_id":"{message_id}","category":"","data":"","status":"{status}",'
    '"source":"ACKNOWLEDGE_MESSAGE_RECEIPT","created_at":"' + ZERO_TIME + '",'
    '"updated_at":"{updated_at}"}}}}'
)


def receipt_frame(message_id: str, status: str, updated_ns: int) -> bytes:
    """The gzipped ACKNOWLEDGE_MESSAGE_RECEIPT push for one status change (§3.5).

    `message_id` was validated as a lowercase UUID and `status` is DELIVERED or READ, so the
    template needs no JSON escaping.
    """
    text = _RECEIPT_TEMPLATE.format(
        push_id=new_id(),
        message_id=message_id,
        status=status,
        updated_at=rfc3339(updated_ns),
    )
    return gzip_member(text.encode())
