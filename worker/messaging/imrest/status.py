"""Delivery status by polling ``GET /message/conversation`` (spec §2.2, §3.3), sans I/O.

The API pushes nothing, so blazecast pages the sender's conversation with each recipient, newest
first, and reads the ``status`` of the messages that carry its ``ext`` marker. ``ConversationWalk``
decides the pages: feed it each page's ``data`` and it answers the next ``msg_id_start``, or
``None`` to stop. The seed leaves paging loose (is ``msg_id_start`` inclusive? what is
``next_msg_id`` on the last page?), so the walk de-duplicates by ``msg_id`` and stops on
``is_last``, on a page that brings no new id, on a cursor that does not move back in time, or
once the messages are older than the announcement.

Statuses map onto blazecast's own order, which only moves forward: ``UNREAD`` → ``SENT``,
``DELIVERED`` → ``DELIVERED``, ``READ`` → ``READ`` (an [ASSUMPTION] of §3.3 step 4).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from worker.messaging.errors import ServerError
from worker.messaging.imrest.codes import PROVIDER
from worker.messaging.imrest.marker import Marker, read_marker

DeliveryStatus = Literal["SENT", "DELIVERED", "READ"]

#: The provider's status words and what they mean to blazecast.
PROVIDER_STATUS: dict[str, DeliveryStatus] = {
    "UNREAD": "SENT",
    "DELIVERED": "DELIVERED",
    "READ": "READ",
}
STATUS_RANK: dict[DeliveryStatus, int] = {"SENT": 1, "DELIVERED": 2, "READ": 3}

#: A bound on pages per walk, so a server that never says ``is_last`` cannot hold a worker.
MAX_PAGES = 1000


@dataclass(frozen=True, slots=True)
class StatusRow:
    """One of blazecast's messages as the conversation shows it now."""

    msg_id: int
    opposite_id: int  # the recipient (or group) whose conversation holds the message
    status: DeliveryStatus
    provider_status: str  # the word the server used: UNREAD, DELIVERED or READ
    timestamp_ms: int
    transaction_id: int | None  # the request that created it, from the ext marker


def later_status(current: DeliveryStatus | None, observed: DeliveryStatus) -> DeliveryStatus:
    """The status to keep: a repeat or a step back never undoes progress (spec §3.3 step 4)."""
    if current is not None and STATUS_RANK[current] >= STATUS_RANK[observed]:
        return current
    return observed


class ConversationWalk:
    """The pages to read for one conversation, and the marked messages they hold.

    ``since_ms`` is the earliest ``timestamp`` the announcement's messages can have (its first
    send, minus any clock slack the caller allows); older pages are not read. With a marker
    that names a ``transaction_id`` the walk stops at its message, of which there is one.
    """

    def __init__(self, *, sender_id: int, opposite_id: int, marker: Marker, since_ms: int) -> None:
        self.sender_id = sender_id
        self.opposite_id = opposite_id
        self.marker = marker
        self.since_ms = since_ms
        self.pages = 0
        self._seen: set[int] = set()
        self._found: dict[int, StatusRow] = {}

    @property
    def rows(self) -> list[StatusRow]:
        """The marked messages found so far, newest first."""
        return sorted(self._found.values(), key=lambda row: row.msg_id, reverse=True)

    def first_cursor(self) -> int:
        """``msg_id_start`` of the first page: 0 means the newest message."""
        return 0

    def feed(self, data: Any, cursor: int) -> int | None:
        """Take the ``data`` of the page read at ``cursor``; the next cursor, or ``None``."""
        self.pages += 1
        is_last, next_msg_id, messages = _page_parts(data)
        new_ids = 0
        reached_older = False
        for message in messages:
            msg_id = message["msg_id"]
            if msg_id not in self._seen:
                self._seen.add(msg_id)
                new_ids += 1
            if message["timestamp"] < self.since_ms:
                reached_older = True
                continue
            self._take(message)
        if is_last or new_ids == 0 or reached_older or self.pages >= MAX_PAGES:
            return None
        if self.marker.transaction_id is not None and self._found:
            return None
        # Newest first: a cursor that does not move to older ids would loop.
        if next_msg_id <= 0 or (cursor != 0 and next_msg_id >= cursor):
            return None
        return next_msg_id

    def _take(self, message: Mapping[str, Any]) -> None:
        if _uid(message.get("from_xid")) != self.sender_id:
            return
        found = read_marker(message.get("ext"))
        if not self.marker.matches(found):
            return
        word = message.get("status")
        if not isinstance(word, str) or word not in PROVIDER_STATUS:
            return  # a status this client does not know moves nothing
        status = PROVIDER_STATUS[word]
        msg_id = message["msg_id"]
        previous = self._found.get(msg_id)
        if previous is not None and later_status(previous.status, status) == previous.status:
            return  # the same message seen twice (an inclusive cursor): keep the furthest status
        self._found[msg_id] = StatusRow(
            msg_id=msg_id,
            opposite_id=self.opposite_id,
            status=status,
            provider_status=word,
            timestamp_ms=message["timestamp"],
            transaction_id=found.transaction_id if found else None,
        )


def _page_parts(data: Any) -> tuple[bool, int, list[Mapping[str, Any]]]:
    """Check the page's shape; a reply that is not a page is a server fault, retried later."""
    if not isinstance(data, dict) or not isinstance(data.get("messages"), list):
        raise ServerError("GET /message/conversation returned no message list", provider=PROVIDER)
    is_last = data.get("is_last") is True
    raw_next = data.get("next_msg_id")
    next_msg_id = raw_next if isinstance(raw_next, int) and not isinstance(raw_next, bool) else 0
    messages: list[Mapping[str, Any]] = []
    for message in data["messages"]:
        if (
            isinstance(message, dict)
            and _is_int(message.get("msg_id"))
            and _is_int(message.get("timestamp"))
        ):
            messages.append(message)
    return is_last, next_msg_id, messages


def _uid(xid: object) -> int | None:
    if isinstance(xid, dict) and _is_int(xid.get("uid")):
        return int(xid["uid"])
    return None


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
