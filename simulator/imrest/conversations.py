"""The operations on existing messages: read a conversation, ack, recall, delete, unread.

`GET /message/conversation` (§2.2), `GET /message/ack` (§2.1), `PUT|POST /message/recall`
(§2.5), `DELETE /message/conversation` (§2.3) and `GET /message/unread` (§2.7), all acting as a
user: the `user_id` header of an admin token, or the user of a user token (checklist 10–14).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from simulator.imrest.auth import Actor
from simulator.imrest.core import MAX_PAGE_LIMIT, ImRestCore
from simulator.imrest.errors import (
    NO_PERMISSION,
    NOT_GROUP_MEMBER,
    USER_NOT_FOUND,
    ImRestError,
    invalid,
)
from simulator.imrest.messages import ConversationKey
from simulator.imrest.validation import parse_json_object


def get_conversation(core: ImRestCore, actor: Actor, query: Mapping[str, str]) -> dict[str, Any]:
    """One page of the acting user's conversation with `opposite_id`, newest first."""
    user = _acting_user(core, actor)
    limit = _query_int(query, "limit", required=True)
    start = _query_int(query, "msg_id_start", required=True, allow_zero=True)
    opposite = _query_int(query, "opposite_id", required=True)
    assert limit is not None and start is not None and opposite is not None
    if not 1 <= limit <= MAX_PAGE_LIMIT:
        raise invalid("limit", f"must be between 1 and {MAX_PAGE_LIMIT}")
    key = _conversation(core, user, opposite)
    page = core.store.page(
        key,
        start,
        limit,
        paging=core.config.paging,
        show_recalled=core.config.keep_recalled,
    )
    now = core.clock()
    flag = core.config.keep_recalled
    return {
        "is_last": page.is_last,
        "next_msg_id": page.next_msg_id,
        "messages": [message.view(now, flag_recalled=flag) for message in page.messages],
    }


def ack(core: ImRestCore, actor: Actor, query: Mapping[str, str]) -> bool:
    """The recipient read `msg_id` (and, by default, what came before it in the conversation)."""
    user = _acting_user(core, actor)
    conversation_id = _query_int(query, "conversation_id")
    msg_id = _query_int(query, "msg_id")
    _query_int(query, "device_sn", allow_zero=True)
    if msg_id is None and conversation_id is None:
        raise invalid("msg_id", "or conversation_id is required")
    if msg_id is not None:
        message = core.store.messages.get(msg_id)
        if message is None or message.to_uid != user:
            raise invalid("msg_id", "is not a message to this user")
        if conversation_id is not None and conversation_id != message.from_uid:
            raise invalid("conversation_id", "does not hold this message")
        message.force("READ")
        key, upto = message.conversation, msg_id
        marks_older = core.config.ack_marks_older
    else:
        assert conversation_id is not None
        key, upto, marks_older = _conversation(core, user, conversation_id), None, True
    if marks_older:
        for other in core.store.in_conversation(key):
            if other.to_uid == user and (upto is None or other.msg_id <= upto):
                other.force("READ")
    core.stats.acks += 1
    return True


def recall(core: ImRestCore, actor: Actor, raw: bytes) -> bool:
    """Recall a message; only its sender may, and a repeat is harmless (checklist 13)."""
    user = _acting_user(core, actor)
    body = parse_json_object(raw)
    values = {}
    for name in ("conversation_id", "msg_id"):
        value = body.get(name)
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise invalid(name, "is required and must be a positive int64")
        values[name] = value
    message = core.store.messages.get(values["msg_id"])
    if message is None:
        raise invalid("msg_id", "is unknown")
    if message.from_uid != user:
        raise ImRestError(NO_PERMISSION, "only the sender may recall a message")
    if values["conversation_id"] != message.to_uid:
        raise invalid("conversation_id", "does not hold this message")
    if not message.recalled:
        message.recalled = True
        core.stats.recalls += 1
    return True


def delete_conversation(core: ImRestCore, actor: Actor, query: Mapping[str, str]) -> bool:
    """Remove a conversation from the acting user's list only (checklist 14)."""
    user = _acting_user(core, actor)
    conversation_id = _query_int(query, "conversation_id", required=True)
    assert conversation_id is not None
    core.store.delete(user, _conversation(core, user, conversation_id))
    return True


def unread(core: ImRestCore, actor: Actor) -> list[dict[str, Any]]:
    """The acting user's conversations, newest first, with their unread counts."""
    user = _acting_user(core, actor)
    now = core.clock()
    return core.store.conversations_of(user, lambda message: message.status(now))


def _acting_user(core: ImRestCore, actor: Actor) -> int:
    if actor.user_id is None:
        raise invalid("header user_id", "is required with an admin token for this operation")
    if actor.user_id not in core.users:
        raise ImRestError(USER_NOT_FOUND, f"user_id {actor.user_id}")
    return actor.user_id


def _conversation(core: ImRestCore, user: int, opposite: int) -> ConversationKey:
    groups = core.store.groups
    if opposite in groups:
        if user not in groups[opposite]:
            raise ImRestError(NOT_GROUP_MEMBER, f"group {opposite}")
    elif opposite not in core.users:
        raise ImRestError(USER_NOT_FOUND, f"opposite {opposite}")
    return core.store.key_for(user, opposite)


def _query_int(
    query: Mapping[str, str], name: str, *, required: bool = False, allow_zero: bool = False
) -> int | None:
    raw = query.get(name)
    if raw is None or raw == "":
        if required:
            raise invalid(name, "is required")
        return None
    try:
        value = int(raw)
    except ValueError:
        raise invalid(name, "must be an integer") from None
    if value < 0 or (value == 0 and not allow_zero) or value >= 2**63:
        raise invalid(name, "is out of range")
    return value
