"""The small interface the sender uses, and the values that cross it.

A ``Transport`` sends batches of ``OutgoingMessage``; the Blaze listener hands back ``Receipt``
and ``IncomingMessage`` values. Implementations are named by mechanism: ``BlazeTransport``
(websocket, with HTTP for non-plain categories), ``HttpTransport`` and ``FakeTransport``.
Nothing in this module knows about sockets.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol, runtime_checkable

ReceiptStatus = Literal["DELIVERED", "READ"]
#: The statuses with which the bot may acknowledge a message it received (spec §3.1, §4.3).
ACK_STATUSES: tuple[ReceiptStatus, ...] = ("READ", "DELIVERED")


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    """One message to one recipient, exactly as Mixin receives it.

    ``data_base64`` is the payload in base64url without padding (see ``payloads.encode_data``);
    ``message_id`` is deterministic per (announcement, recipient) so that re-sends are no-ops.
    """

    conversation_id: str
    recipient_id: str
    message_id: str
    category: str
    data_base64: str

    def to_wire(self) -> dict[str, str]:
        """The JSON object of ``CREATE_PLAIN_MESSAGES`` and ``POST /messages`` (spec §3.2)."""
        return {
            "conversation_id": self.conversation_id,
            "recipient_id": self.recipient_id,
            "message_id": self.message_id,
            "category": self.category,
            "data_base64": self.data_base64,
        }


@dataclass(frozen=True, slots=True)
class Receipt:
    """A recipient's device stored (DELIVERED) or read (READ) a message the bot sent."""

    message_id: str
    status: ReceiptStatus
    updated_at: datetime  # aware, UTC: the time of the status change on the server


@dataclass(frozen=True, slots=True)
class IncomingMessage:
    """A message a user sent to the bot (``hello``, ``/stop``, ...); it must be acknowledged."""

    message_id: str
    conversation_id: str
    user_id: str
    category: str
    data: bytes
    created_at: datetime
    #: Said in the user's 1:1 conversation with the bot (not a group): only such messages may
    #: subscribe the user. The provider decides; ``conversation_id`` is never trusted for it.
    direct: bool = True


@runtime_checkable
class Transport(Protocol):
    """What the sender needs from a provider connection."""

    name: str

    def send_messages(self, messages: Sequence[OutgoingMessage]) -> None:
        """Send one batch, all or nothing.

        Returns once the provider accepted the whole batch (at most 100 messages and 128 KB of
        body); raises a ``MessagingError`` subclass otherwise. Safe to call again with the same
        messages: the provider deduplicates by ``message_id``. Does not retry by itself.
        """
        ...

    def close(self) -> None:
        """Release connections; the transport may not be used afterwards."""
        ...
