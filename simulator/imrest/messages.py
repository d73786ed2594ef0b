"""One stored message and how its status moves: UNREAD → DELIVERED → READ (spec §6 items 7, 9).

Status is computed from times rather than pushed by timers: an online recipient's message gets
`delivered_at` and `read_at` when it is created, an offline recipient's gets them when the
recipient comes online; its `fate` (drawn once, `fates`) says whether either ever comes. `forced` holds what `GET /message/ack` or a test hook set. The status
shown is the furthest of the two, so it never moves back, whoever looks and whenever.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from simulator.imrest.config import RecipientBehaviour
from simulator.imrest.fates import CERTAIN, Fate

STATUSES = ("UNREAD", "DELIVERED", "READ")
RANK = {name: rank for rank, name in enumerate(STATUSES)}
#: Conversation keys: ("user", low id, high id) for a chat, ("group", group id) for a group.
ConversationKey = tuple[Any, ...]


def chat_key(a: int, b: int) -> ConversationKey:
    return ("user", min(a, b), max(a, b))


def group_key(group_id: int) -> ConversationKey:
    return ("group", group_id)


@dataclass
class Message:
    """A message as stored; `to_uid` is the recipient user or the group."""

    msg_id: int
    conversation: ConversationKey
    from_uid: int
    to_uid: int
    to_group: bool
    ctype: str
    content: str
    attachment: str
    config: str
    ext: str
    timestamp_ms: int
    transaction_id: int | None
    endpoint: str
    delivered_at: float | None = None
    read_at: float | None = None
    forced: int = 0
    recalled: bool = False
    fate: Fate = CERTAIN

    def status(self, now: float) -> str:
        """The status anyone sees at monotonic time `now`."""
        rank = self.forced
        if self.read_at is not None and self.read_at <= now:
            rank = max(rank, RANK["READ"])
        elif self.delivered_at is not None and self.delivered_at <= now:
            rank = max(rank, RANK["DELIVERED"])
        return STATUSES[rank]

    def force(self, status: str) -> None:
        """Move the status forward to `status` (a step back is ignored: transitions are monotonic)."""
        self.forced = max(self.forced, RANK[status])

    def schedule(self, behaviour: RecipientBehaviour, now: float) -> None:
        """The recipient is online: plan delivery and reading from `now` (group messages never)."""
        if self.to_group or not self.fate.delivers:
            return
        if self.delivered_at is None:
            self.delivered_at = now + behaviour.delivery_delay * self.fate.delivery_factor
        if self.read_at is None and self.fate.reads and behaviour.read_delay is not None:
            self.read_at = (
                max(self.delivered_at, now) + behaviour.read_delay * self.fate.read_factor
            )

    def eventual_status(self) -> str:
        """The status this message ends at once its recipient has been online long enough.

        The truth a client's estimate from polling is judged against; an ack or a test hook
        may have moved it further than its fate.
        """
        rank = RANK["READ"] if self.fate.reads else RANK["DELIVERED"] if self.fate.delivers else 0
        return STATUSES[max(rank, self.forced)]

    def pause(self, now: float) -> None:
        """The recipient went offline: changes still to come wait until it is back."""
        if self.delivered_at is not None and self.delivered_at > now:
            self.delivered_at = None
        if self.read_at is not None and self.read_at > now:
            self.read_at = None

    def view(self, now: float, *, flag_recalled: bool = False) -> dict[str, Any]:
        """The message object of `GET /message/conversation` (§2.2)."""
        shown: dict[str, Any] = {
            "msg_id": self.msg_id,
            "from_xid": {"uid": self.from_uid, "device_sn": 0},
            "to_xid": {"uid": self.to_uid, "device_sn": 0},
            "ctype": self.ctype,
            "content": self.content,
            "attachment": self.attachment,
            "config": self.config,
            "ext": self.ext,
            "status": self.status(now),
            "timestamp": self.timestamp_ms,
        }
        if flag_recalled:
            shown["recalled"] = self.recalled
        return shown

    def state(self, now: float) -> dict[str, Any]:
        """Everything the simulator knows about the message, for `GET /_sim/messages/{id}`."""
        return {
            **self.view(now),
            "recalled": self.recalled,
            "transaction_id": self.transaction_id,
            "endpoint": self.endpoint,
            "to_group": self.to_group,
        }
