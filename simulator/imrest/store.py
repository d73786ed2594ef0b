"""Conversations and their messages: creation, keyset pages, unread counts, per-user deletion.

msg_ids come from one counter, so they increase with creation time and every conversation's
list is already sorted; a page is a walk down that list from the cursor (spec §6 item 12). New
messages land above every cursor in use, so they never shift the older pages a client is reading.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from simulator.imrest.config import RecipientBehaviour
from simulator.imrest.messages import ConversationKey, Message, chat_key, group_key

#: The first msg_id handed out: the size of the spec's examples, far below 2^53 − 1.
FIRST_MSG_ID = 8725424416047104
MAX_MSG_ID = 2**53 - 1


@dataclass(frozen=True)
class Page:
    """One page of `GET /message/conversation`, newest first."""

    messages: list[Message]
    next_msg_id: int
    is_last: bool


class MessageStore:
    """Every message, indexed by id, by conversation and by recipient."""

    def __init__(self, groups: dict[int, frozenset[int]]) -> None:
        self.groups = groups
        self.messages: dict[int, Message] = {}
        self._next_id = FIRST_MSG_ID
        self._by_conversation: dict[ConversationKey, list[int]] = {}
        self._to_user: dict[int, list[int]] = {}
        self._conversations_of: dict[int, set[ConversationKey]] = {}
        # (user, conversation) → the newest msg_id when the user deleted it (§2.3).
        self._deleted: dict[tuple[int, ConversationKey], int] = {}

    def key_for(self, user_id: int, opposite_id: int) -> ConversationKey:
        """The conversation `user_id` has with `opposite_id`, a user or a group."""
        return (
            group_key(opposite_id) if opposite_id in self.groups else chat_key(user_id, opposite_id)
        )

    def create(
        self,
        *,
        from_uid: int,
        to_uid: int,
        fields: dict[str, Any],
        now: float,
        now_ms: int,
        behaviour: RecipientBehaviour | None,
    ) -> Message:
        """Store a new message; `behaviour` (None for groups) plans its status changes."""
        if self._next_id > MAX_MSG_ID:
            raise RuntimeError("msg_id space exhausted")
        to_group = to_uid in self.groups
        key = group_key(to_uid) if to_group else chat_key(from_uid, to_uid)
        message = Message(
            msg_id=self._next_id,
            conversation=key,
            from_uid=from_uid,
            to_uid=to_uid,
            to_group=to_group,
            timestamp_ms=now_ms,
            **fields,
        )
        self._next_id += 1
        self.messages[message.msg_id] = message
        self._by_conversation.setdefault(key, []).append(message.msg_id)
        members = self.groups[to_uid] if to_group else frozenset({from_uid, to_uid})
        for member in members | {from_uid}:
            self._conversations_of.setdefault(member, set()).add(key)
        if not to_group:
            self._to_user.setdefault(to_uid, []).append(message.msg_id)
            if behaviour is not None and behaviour.online:
                message.schedule(behaviour, now)
        return message

    def page(
        self, key: ConversationKey, start: int, limit: int, *, paging: str, show_recalled: bool
    ) -> Page:
        """Up to `limit` messages from `start` (0: the newest) toward older ones.

        `paging` is the cursor style of `ImRestConfig.paging`; each style's `next_msg_id`
        fits its own reading of `msg_id_start`, so a client that follows it misses nothing.
        """
        ids = self._by_conversation.get(key, [])
        if start == 0:
            index = len(ids) - 1
        elif paging == "exclusive":
            index = bisect_left(ids, start) - 1
        else:
            index = bisect_right(ids, start) - 1
        taken: list[Message] = []
        while index >= 0 and len(taken) < limit:
            message = self.messages[ids[index]]
            index -= 1
            if show_recalled or not message.recalled:
                taken.append(message)
        while index >= 0 and not show_recalled and self.messages[ids[index]].recalled:
            index -= 1
        if index < 0:
            return Page(taken, 0, True)
        if paging == "inclusive":
            return Page(taken, ids[index], False)
        return Page(taken, taken[-1].msg_id, False)

    def in_conversation(self, key: ConversationKey) -> Iterable[Message]:
        return (self.messages[msg_id] for msg_id in self._by_conversation.get(key, []))

    def to_user(self, user_id: int) -> list[Message]:
        """Messages addressed to `user_id` personally, oldest first."""
        return [self.messages[msg_id] for msg_id in self._to_user.get(user_id, [])]

    def count_to(self, user_id: int) -> int:
        """How many messages were addressed to `user_id` personally so far."""
        return len(self._to_user.get(user_id, ()))

    def delete(self, user_id: int, key: ConversationKey) -> None:
        """Hide the conversation from `user_id`'s list until a newer message arrives in it."""
        ids = self._by_conversation.get(key)
        if ids:
            self._deleted[(user_id, key)] = ids[-1]

    def conversations_of(
        self, user_id: int, status_of: Callable[[Message], str]
    ) -> list[dict[str, Any]]:
        """`GET /message/unread` for `user_id`: newest conversation first, with unread counts."""
        listed = []
        for key in self._conversations_of.get(user_id, set()):
            ids = self._by_conversation.get(key, [])
            if not ids or self._deleted.get((user_id, key), 0) >= ids[-1]:
                continue
            unread = sum(
                1
                for message in self.in_conversation(key)
                if message.to_uid == user_id
                and not message.recalled
                and status_of(message) != "READ"
            )
            opposite = key[1] if key[0] == "group" else (key[2] if key[1] == user_id else key[1])
            listed.append((ids[-1], {"conversation_id": {"uid": opposite}, "num": unread}))
        return [entry for _, entry in sorted(listed, key=lambda item: item[0], reverse=True)]
