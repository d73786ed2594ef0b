"""Messages users send to a bot, kept until the bot acknowledges them (spec §3.6, item 15).

A pending message is pushed live (`source: CREATE_MESSAGE`) to a listening connection when it
is created, and replayed (`source: LIST_PENDING_MESSAGES`) oldest first on every
LIST_PENDING_MESSAGES until an ACKNOWLEDGE_MESSAGE_RECEIPT(S) or POST /acknowledgements with
READ or DELIVERED removes it. Messages older than the retention (7 days) are dropped.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from simulator.wire import encode_frame, new_id, rfc3339

ACKNOWLEDGING_STATUSES = frozenset({"READ", "DELIVERED"})


@dataclass(slots=True)
class UserMessage:
    """One message from a user's device to a bot."""

    message_id: str
    bot_id: str
    user_id: str
    session_id: str
    conversation_id: str
    category: str
    data: bytes
    created_ns: int

    def view(self, source: str) -> dict[str, Any]:
        """The MessageView of §3.4: `data` std base64 padded, `data_base64` url-safe unpadded."""
        created = rfc3339(self.created_ns)
        return {
            "type": "message",
            "representative_id": "",
            "quote_message_id": "",
            "conversation_id": self.conversation_id,
            "user_id": self.user_id,
            "session_id": self.session_id,
            "message_id": self.message_id,
            "category": self.category,
            "data": base64.b64encode(self.data).decode(),
            "data_base64": base64.urlsafe_b64encode(self.data).rstrip(b"=").decode(),
            "status": "SENT",
            "source": source,
            "silent": False,
            "expire_in": 0,
            "created_at": created,
            "updated_at": created,
        }

    def push_frame(self, source: str) -> bytes:
        """A CREATE_MESSAGE push with a fresh server id."""
        return encode_frame({"id": new_id(), "action": "CREATE_MESSAGE", "data": self.view(source)})


class Inbox:
    """Unacknowledged user messages per bot, in creation order."""

    def __init__(self, retention_seconds: float) -> None:
        self._retention_ns = int(retention_seconds * 1e9)
        self._pending: dict[str, dict[str, UserMessage]] = {}

    def add(self, message: UserMessage) -> None:
        self._pending.setdefault(message.bot_id, {})[message.message_id] = message

    def acknowledge(self, bot_id: str, message_id: str, status: object) -> bool:
        """Remove a pending message if the ack is READ or DELIVERED; True if one was removed."""
        if status not in ACKNOWLEDGING_STATUSES:
            return False
        return self._pending.get(bot_id, {}).pop(message_id, None) is not None

    def pending(self, bot_id: str, now_ns: int) -> list[UserMessage]:
        """Unacknowledged messages of the bot, oldest first, after dropping expired ones."""
        messages = self._pending.get(bot_id, {})
        horizon = now_ns - self._retention_ns
        for message_id in [m.message_id for m in messages.values() if m.created_ns < horizon]:
            del messages[message_id]
        return sorted(messages.values(), key=lambda m: m.created_ns)

    def count(self) -> int:
        return sum(len(messages) for messages in self._pending.values())
