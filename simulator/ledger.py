"""What happened to every message the bots sent: one record per distinct message_id.

The ledger is the simulator's memory for idempotency (a repeated message_id is found here), for
receipts (state moves SENT -> DELIVERED -> READ, never back) and for `GET /_sim/messages/{id}`
and `GET /messages/status/{offset}`.
"""

from __future__ import annotations

import bisect
import gc
from dataclasses import dataclass
from typing import Any

from simulator.wire import rfc3339

SENT, DELIVERED, READ = 0, 1, 2
FREEZE_EVERY = 20_000
STATE_NAMES = ("SENT", "DELIVERED", "READ")


@dataclass(slots=True)
class MessageRecord:
    """One distinct message_id, as first accepted, and how far it got on the user's side."""

    message_id: str
    bot_id: str
    recipient_id: str
    conversation_id: str
    category: str
    # Identifies the content, to tell an idempotent re-send from a conflicting re-use.
    fingerprint: int
    transport: str
    accepted_at_ns: int
    state: int = SENT
    times_sent: int = 1
    delivered_at_ns: int = 0
    read_at_ns: int = 0
    recalled: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "message_id": self.message_id,
            "bot_id": self.bot_id,
            "recipient_id": self.recipient_id,
            "conversation_id": self.conversation_id,
            "category": self.category,
            "transport": self.transport,
            "state": STATE_NAMES[self.state],
            "times_sent": self.times_sent,
            "accepted_at": rfc3339(self.accepted_at_ns),
            "delivered_at": rfc3339(self.delivered_at_ns) if self.delivered_at_ns else None,
            "read_at": rfc3339(self.read_at_ns) if self.read_at_ns else None,
            "recalled": self.recalled,
        }


class Ledger:
    """Records by message_id, plus the time-ordered log of status changes."""

    def __init__(self) -> None:
        self.records: dict[str, MessageRecord] = {}
        # Parallel lists, appended in time order, for GET /messages/status/{offset_ns}.
        self._change_ns: list[int] = []
        self._changes: list[tuple[MessageRecord, int]] = []

    def get(self, message_id: str) -> MessageRecord | None:
        return self.records.get(message_id)

    def add(self, record: MessageRecord) -> None:
        self.records[record.message_id] = record
        if len(self.records) % FREEZE_EVERY == 0:
            # The ledger only grows, and a full garbage collection walks every object in it: at
            # 200,000 records that pause stalled the server for a visible fraction of a second.
            # Records live as long as the server, so move what exists now out of the collector's
            # reach.
            gc.freeze()

    def advance(self, record: MessageRecord, state: int, at_ns: int) -> tuple[bool, bool]:
        """Apply a receipt; returns (first time delivered, first time read).

        READ implies DELIVERED, so a READ that overtakes its DELIVERED still counts as both.
        """
        first_delivered = record.delivered_at_ns == 0
        first_read = state == READ and record.read_at_ns == 0
        if first_delivered:
            record.delivered_at_ns = at_ns
        if first_read:
            record.read_at_ns = at_ns
        if state > record.state:
            record.state = state
        if first_delivered or first_read:
            self._change_ns.append(at_ns)
            self._changes.append((record, state))
        return first_delivered, first_read

    def changes_after(
        self, bot_id: str, offset_ns: int, limit: int
    ) -> list[tuple[MessageRecord, int, int]]:
        """Status changes of the bot's messages strictly after `offset_ns`, oldest first."""
        start = bisect.bisect_right(self._change_ns, offset_ns)
        found: list[tuple[MessageRecord, int, int]] = []
        for position in range(start, len(self._changes)):
            record, state = self._changes[position]
            if record.bot_id == bot_id:
                found.append((record, state, self._change_ns[position]))
                if len(found) >= limit:
                    break
        return found
