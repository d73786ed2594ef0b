"""The ``ext`` marker that lets blazecast find its own messages again (spec §3.3 step 2).

Multi-target sends return no ``msg_ids``, so every request carries, in the free ``ext`` field,
``{"blazecast":{"announcement_id":"…","transaction_id":N}}``. When blazecast later pages a
conversation it recognises its messages by this marker. This relies on the server returning
``ext`` verbatim (spec §8, open question 5).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

_NAMESPACE = "blazecast"


@dataclass(frozen=True, slots=True)
class Marker:
    """Which messages to look for: an announcement, and optionally one request of it.

    With ``transaction_id`` set, only the message created by that request matches. Without
    it, every message of the announcement matches, which also finds a recipient's message
    when it was sent by a split single-target request with an id of its own.
    """

    announcement_id: str
    transaction_id: int | None = None

    def to_ext(self) -> str:
        """The compact JSON string sent as ``ext``; a full marker needs ``transaction_id``."""
        if self.transaction_id is None:
            raise ValueError("the ext of a request names its transaction_id")
        body = {
            _NAMESPACE: {
                "announcement_id": self.announcement_id,
                "transaction_id": self.transaction_id,
            }
        }
        return json.dumps(body, separators=(",", ":"), ensure_ascii=False)

    def matches(self, found: Marker | None) -> bool:
        """Whether a marker read back from a message is one of those looked for."""
        if found is None or found.announcement_id != self.announcement_id:
            return False
        return self.transaction_id is None or found.transaction_id == self.transaction_id


def read_marker(ext: object) -> Marker | None:
    """The marker in a message's ``ext``, or ``None`` if the message is not blazecast's.

    Anything unexpected (not JSON, another app's fields, a quoted id) is simply not a marker:
    a conversation holds the users' own messages too.
    """
    if not isinstance(ext, str) or not ext:
        return None
    try:
        parsed = json.loads(ext)
    except ValueError:
        return None
    inner = parsed.get(_NAMESPACE) if isinstance(parsed, dict) else None
    if not isinstance(inner, dict):
        return None
    announcement_id = inner.get("announcement_id")
    transaction = inner.get("transaction_id")
    if not isinstance(announcement_id, str) or not announcement_id:
        return None
    if isinstance(transaction, bool) or not isinstance(transaction, int):
        return None
    return Marker(announcement_id, transaction)
