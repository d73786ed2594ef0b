"""Validation of a `/message/send` or `/message/notify` body (spec §2.6, §6 item 4).

Every violation is 10002 naming the field: required `targets`, `type`, `content_type`,
`content`; `type` 1 or 2; `content_type` 0..7 (9..12 too with the `ZH:` switch); `targets` a
non-empty list of JSON integers, at most the configured maximum; `attachment` for content types
1–4 (always, with the strict switch) a string holding a JSON object with a `url`; optional
`transaction_id`, `from_user_id` integers and `ext`, `config` strings; the body at most 128 KB.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from simulator.imrest.errors import invalid

CTYPES = {
    0: "TEXT",
    1: "IMAGE",
    2: "AUDIO",
    3: "VIDEO",
    4: "FILE",
    5: "LOCATION",
    6: "COMMAND",
    7: "FORWARD",
}
ZH_CTYPES = {9: "READ_ACK", 10: "RECALL", 11: "APPEND", 12: "REPLACE"}
ATTACHMENT_TYPES = frozenset({1, 2, 3, 4})
_INT64_MAX = 2**63 - 1


@dataclass(frozen=True)
class SendBody:
    """A valid send body; `targets` keeps the request's order, without repeats."""

    targets: tuple[int, ...]
    type: int
    content_type: int
    ctype: str
    content: str
    attachment: str
    transaction_id: int | None
    from_user_id: int | None
    ext: str
    config: str
    fingerprint: str  # the canonical JSON, to tell a repeat from a different request


def parse_send_body(
    raw: bytes,
    *,
    max_targets: int,
    max_body_bytes: int,
    strict_attachment: bool = False,
    zh_content_types: bool = False,
) -> SendBody:
    """The validated body, or raise 10002 naming the field."""
    if len(raw) > max_body_bytes:
        raise invalid("body", f"is {len(raw)} bytes; at most {max_body_bytes} are allowed")
    body = parse_json_object(raw)
    for name in ("targets", "type", "content_type", "content"):
        if name not in body:
            raise invalid(name, "is required")
    target_type = _int(body, "type")
    if target_type not in (1, 2):
        raise invalid("type", "must be 1 (users) or 2 (groups)")
    content_type = _int(body, "content_type")
    names = {**CTYPES, **ZH_CTYPES} if zh_content_types else CTYPES
    if content_type not in names:
        raise invalid("content_type", f"must be one of {', '.join(map(str, sorted(names)))}")
    content = _str(body, "content", required=True)
    targets = _targets(body.get("targets"), max_targets)
    attachment = _str(body, "attachment")
    if content_type in ATTACHMENT_TYPES or strict_attachment:
        _check_attachment(body.get("attachment"))
    return SendBody(
        targets=targets,
        type=target_type,
        content_type=content_type,
        ctype=names[content_type],
        content=content,
        attachment=attachment,
        transaction_id=_optional_int(body, "transaction_id"),
        from_user_id=_optional_int(body, "from_user_id"),
        ext=_str(body, "ext"),
        config=_str(body, "config"),
        fingerprint=json.dumps(body, sort_keys=True, separators=(",", ":")),
    )


def parse_json_object(raw: bytes) -> dict[str, Any]:
    """A request body that must be a JSON object, or raise 10002 naming the body."""
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, ValueError):
        raise invalid("body", "is not JSON") from None
    if not isinstance(body, dict):
        raise invalid("body", "must be a JSON object")
    return body


def _targets(value: Any, max_targets: int) -> tuple[int, ...]:
    if not isinstance(value, list) or not value:
        raise invalid("targets", "must be a non-empty list")
    if len(value) > max_targets:
        raise invalid("targets", f"holds {len(value)} ids; at most {max_targets} are allowed")
    for index, target in enumerate(value):
        if not _is_int(target) or not 0 < target <= _INT64_MAX:
            raise invalid(f"targets[{index}]", "must be a positive int64")
    return tuple(dict.fromkeys(value))


def _check_attachment(value: Any) -> None:
    if not isinstance(value, str) or not value:
        raise invalid("attachment", "is required for this content_type")
    try:
        parsed = json.loads(value)
    except ValueError:
        raise invalid("attachment", "must be a string holding a JSON object") from None
    if not isinstance(parsed, dict) or not isinstance(parsed.get("url"), str):
        raise invalid("attachment", "must hold a JSON object with a url")


def _int(body: dict[str, Any], name: str) -> int:
    value = body.get(name)
    if not isinstance(value, int) or isinstance(value, bool):
        raise invalid(name, "must be an integer")
    return value


def _optional_int(body: dict[str, Any], name: str) -> int | None:
    if body.get(name) is None:
        return None
    value = _int(body, name)
    if not 0 < value <= _INT64_MAX:
        raise invalid(name, "must be a positive int64")
    return value


def _str(body: dict[str, Any], name: str, *, required: bool = False) -> str:
    value = body.get(name)
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        raise invalid(name, "must be a string")
    return value


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
