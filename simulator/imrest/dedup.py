"""`DedupWindow`: a `transaction_id` seen "in a short time" is not executed twice (§6 item 6).

The key is (`app_id`, `transaction_id`), across endpoints. Only executed requests are
remembered: a request refused with an error executed nothing, so its retry must run. A repeat
inside the window gets the original reply (with its `msg_ids`); the caller decides what a repeat
with a different body gets. Window 0 disables dedup.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass


@dataclass(frozen=True)
class Remembered:
    """What the first execution of a transaction answered, and until when it counts."""

    expires_at: float
    fingerprint: str
    msg_ids: tuple[int, ...] | None


class DedupWindow:
    """Executed transactions, oldest first, forgotten once their window has passed."""

    def __init__(self, window_seconds: float) -> None:
        self.window_seconds = window_seconds
        self._entries: OrderedDict[tuple[str, int], Remembered] = OrderedDict()
        self.hits = 0
        self.misses = 0
        self.conflicts = 0
        self.without_id = 0

    def lookup(self, app_id: str, transaction_id: int | None, now: float) -> Remembered | None:
        """The remembered execution of this transaction, if it is still inside the window."""
        if transaction_id is None:
            self.without_id += 1
            return None
        self._expire(now)
        found = self._entries.get((app_id, transaction_id))
        if found is None:
            self.misses += 1
        return found

    def remember(
        self,
        app_id: str,
        transaction_id: int | None,
        fingerprint: str,
        msg_ids: tuple[int, ...] | None,
        now: float,
    ) -> None:
        """Record an executed request (no-op without a transaction id or with dedup off)."""
        if transaction_id is None or self.window_seconds <= 0:
            return
        key = (app_id, transaction_id)
        self._entries.pop(key, None)
        self._entries[key] = Remembered(now + self.window_seconds, fingerprint, msg_ids)

    def counters(self) -> dict[str, float | int]:
        return {
            "hits": self.hits,
            "misses": self.misses,
            "conflicts": self.conflicts,
            "without_transaction_id": self.without_id,
            "remembered": len(self._entries),
            "window_seconds": self.window_seconds,
        }

    def reset_counters(self) -> None:
        self.hits = self.misses = self.conflicts = self.without_id = 0

    def _expire(self, now: float) -> None:
        # Insertion order is expiry order, because the window is the same for every entry.
        while self._entries:
            key, entry = next(iter(self._entries.items()))
            if entry.expires_at > now:
                break
            del self._entries[key]
