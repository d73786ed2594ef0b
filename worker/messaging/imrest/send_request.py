"""Building the body of ``POST /message/send`` and ``/message/notify`` (spec §2.6, §3.1), purely.

One request per batch: the targets sorted ascending (so the same recipients always make the same
request and the same ``transaction_id``), at most 100 of them, all users or all groups, and a
serialized body of at most 128 KB. ``attachment`` goes only with IMAGE, AUDIO, VIDEO and FILE.
Problems the server would answer with 10002 are refused here first as ``InvalidData`` naming the
field, before anything touches the network.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from worker.messaging.errors import InvalidData
from worker.messaging.imrest.marker import Marker
from worker.messaging.imrest.transaction import transaction_id

#: §4: targets per request and bytes of serialized body, blazecast's own limits.
MAX_TARGETS = 100
MAX_BODY_BYTES = 128 * 1024
_MAX_INT64 = 2**63 - 1


class ContentType(IntEnum):
    """``content_type`` of a request (§1.4); blazecast sends TEXT, or 1–4 with an attachment."""

    TEXT = 0
    IMAGE = 1
    AUDIO = 2
    VIDEO = 3
    FILE = 4
    LOCATION = 5
    COMMAND = 6
    FORWARD = 7


class TargetType(IntEnum):
    """``type`` of a request: its targets are all users or all groups, never mixed (§1.4)."""

    USER = 1
    GROUP = 2


#: The content types whose message needs an ``attachment`` with the file's URL (§1.4).
ATTACHMENT_CONTENT_TYPES = frozenset(
    {ContentType.IMAGE, ContentType.AUDIO, ContentType.VIDEO, ContentType.FILE}
)


@dataclass(frozen=True, slots=True)
class SendRequest:
    """A request ready to go: its path, exact body bytes, and the id that deduplicates it."""

    path: str
    body: bytes
    transaction_id: int
    targets: tuple[int, ...]


def split_targets(targets: Iterable[int], max_targets: int = MAX_TARGETS) -> list[tuple[int, ...]]:
    """Sort the recipients ascending and cut them into batches of at most ``max_targets``.

    The split is deterministic, so a re-planned announcement yields the same batches and the
    same ``transaction_id`` values. A recipient listed twice is a caller's bug and refused.
    """
    if max_targets < 1:
        raise ValueError("max_targets must be at least 1")
    ordered = _checked_targets(targets)
    return [tuple(ordered[i : i + max_targets]) for i in range(0, len(ordered), max_targets)]


def build_send_request(
    *,
    announcement_id: str,
    endpoint: str,
    from_user_id: int,
    targets: Iterable[int],
    content_type: int,
    content: str,
    attachment: str | Mapping[str, Any] | None = None,
    target_type: int = TargetType.USER,
    max_targets: int = MAX_TARGETS,
    max_body_bytes: int = MAX_BODY_BYTES,
) -> SendRequest:
    """The request for one batch; raises ``InvalidData`` (``extra["field"]``) when it cannot go.

    ``attachment`` may be the JSON string the API wants or a mapping serialized here; it must
    hold the file's ``url``. The ``ext`` marker names the announcement and this request's
    ``transaction_id`` so that status polling can find the message again (§3.3).
    """
    if endpoint not in ("send", "notify"):
        raise ValueError(f"endpoint must be send or notify, not {endpoint!r}")
    ordered = _checked_targets(targets)
    if not ordered:
        raise ValueError("a batch needs at least one target")
    if len(ordered) > max_targets:
        raise _invalid("targets", f"{len(ordered)} targets; at most {max_targets} per request")
    if target_type not in (TargetType.USER, TargetType.GROUP):
        raise _invalid("type", f"must be 1 (users) or 2 (groups), not {target_type!r}")
    kind = _content_type(content_type)
    if not isinstance(content, str):
        raise _invalid("content", "must be a string")
    attachment_text = _attachment(kind, attachment)
    tid = transaction_id(announcement_id, endpoint, int(target_type), ordered)
    body: dict[str, Any] = {
        "from_user_id": from_user_id,
        "targets": ordered,
        "type": int(target_type),
        "content_type": int(kind),
        "content": content,
    }
    if attachment_text is not None:
        body["attachment"] = attachment_text
    body["transaction_id"] = tid
    body["ext"] = Marker(announcement_id, tid).to_ext()
    raw = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    if len(raw) > max_body_bytes:
        raise InvalidData(
            f"request body is {len(raw)} bytes; at most {max_body_bytes} are allowed",
            extra={"field": "body", "bytes": len(raw), "limit": max_body_bytes},
            provider="IM REST",
        )
    return SendRequest(f"/message/{endpoint}", raw, tid, tuple(ordered))


def _checked_targets(targets: Iterable[int]) -> list[int]:
    listed = list(targets)
    for target in listed:
        if isinstance(target, bool) or not isinstance(target, int) or not 0 < target <= _MAX_INT64:
            raise _invalid("targets", f"{target!r} is not a positive int64 id")
    ordered = sorted(listed)
    duplicates = _duplicates(ordered)
    if duplicates:
        raise ValueError(f"targets listed twice: {', '.join(map(str, duplicates[:5]))}")
    return ordered


def _duplicates(ordered: Sequence[int]) -> list[int]:
    return [b for a, b in zip(ordered, ordered[1:], strict=False) if a == b]


def _content_type(value: int) -> ContentType:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _invalid("content_type", f"must be an integer, not {value!r}")
    try:
        return ContentType(value)
    except ValueError:
        raise _invalid("content_type", f"{value} is not one of 0..7") from None


def _attachment(kind: ContentType, attachment: str | Mapping[str, Any] | None) -> str | None:
    if kind not in ATTACHMENT_CONTENT_TYPES:
        if attachment is not None:
            raise _invalid("attachment", f"{kind.name} messages take no attachment")
        return None
    if attachment is None:
        raise _invalid("attachment", f"{kind.name} messages need an attachment with the file url")
    if isinstance(attachment, str):
        text = attachment
        try:
            parsed = json.loads(text)
        except ValueError:
            raise _invalid("attachment", "must be a JSON object") from None
    else:
        parsed = dict(attachment)
        text = json.dumps(parsed, separators=(",", ":"), ensure_ascii=False)
    if not isinstance(parsed, dict):
        raise _invalid("attachment", "must be a JSON object")
    url = parsed.get("url")
    if not isinstance(url, str) or not url:
        raise _invalid("attachment", "must name the file's url")
    return text


def _invalid(field: str, reason: str) -> InvalidData:
    return InvalidData(f"{field}: {reason}", extra={"field": field}, provider="IM REST")
