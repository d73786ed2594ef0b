"""Counters of what the simulator saw, served as JSON at `GET /_sim/stats`.

Counters count events since start or the last `POST /_sim/reset`; the message ledger, the quota
and the conversations are behaviour, not counters, and survive a reset.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from simulator.windows import RollingCount

STATS_WINDOW_SECONDS = 60.0


class Stats:
    """Plain counters, updated on the event loop only."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.messages_accepted = 0
        self.distinct_message_ids = 0
        self.duplicate_message_ids = 0
        self.conflicting_message_ids = 0
        self.visible_messages = 0
        self.recalls = 0
        self.largest_batch = 0
        self.largest_body_bytes = 0
        self.rate_limited_429 = 0
        self.forbidden_403 = 0
        self.errors_sent: Counter[int] = Counter()
        self.auth_failures: Counter[str] = Counter()
        self.receipts_sent: Counter[str] = Counter({"DELIVERED": 0, "READ": 0})
        self.receipts_queued = 0
        self.receipts_dropped = 0
        self.messages_delivered = 0
        self.messages_read = 0
        self.user_messages_created = 0
        self.user_messages_pushed = 0
        self.user_messages_acknowledged = 0
        self.requests: Counter[str] = Counter({"blaze": 0, "http": 0})
        self.connections_opened = 0
        self.replies_dropped = 0
        self.replies_slowed = 0
        self.connections_cut = 0
        self._accepted_per_second: Counter[int] = Counter()
        self._rolling: dict[str, RollingCount] = {}
        # Per bot: what a bench of several bots checks against each bot's own quota.
        self._accepted_by_bot: Counter[str] = Counter()
        self._quota_refusals_by_bot: Counter[str] = Counter()
        self._accepted_per_second_by_bot: dict[str, Counter[int]] = {}

    def saw_batch(self, messages: int, body_bytes: int) -> None:
        """A sending request arrived (whatever becomes of it)."""
        self.largest_batch = max(self.largest_batch, messages)
        self.largest_body_bytes = max(self.largest_body_bytes, body_bytes)

    def accepted(self, bot_id: str, count: int, monotonic_now: float, unix_second: int) -> None:
        """`count` message objects of one batch were accepted (duplicates included)."""
        self.messages_accepted += count
        self._accepted_per_second[unix_second] += count
        self._accepted_by_bot[bot_id] += count
        self._accepted_per_second_by_bot.setdefault(bot_id, Counter())[unix_second] += count
        window = self._rolling.get(bot_id)
        if window is None:
            window = self._rolling[bot_id] = RollingCount(STATS_WINDOW_SECONDS)
        window.add(monotonic_now, count)

    def quota_refused(self, bot_id: str) -> None:
        """The bot's quota refused a batch (the 429 itself is counted by `error_sent`)."""
        self._quota_refusals_by_bot[bot_id] += 1

    def error_sent(self, code: int) -> None:
        self.errors_sent[code] += 1
        if code == 429:
            self.rate_limited_429 += 1
        elif code == 403:
            self.forbidden_403 += 1

    def snapshot(self) -> dict[str, Any]:
        """The JSON document of `GET /_sim/stats` (without the parts owned elsewhere)."""
        by_bot = {bot: window.peak for bot, window in self._rolling.items()}
        return {
            "messages_accepted": self.messages_accepted,
            "distinct_message_ids": self.distinct_message_ids,
            "duplicate_message_ids": self.duplicate_message_ids,
            "conflicting_message_ids": self.conflicting_message_ids,
            "visible_messages": self.visible_messages,
            "recalls": self.recalls,
            "largest_batch": self.largest_batch,
            "largest_body_bytes": self.largest_body_bytes,
            "max_rolling_60s": max(by_bot.values(), default=0),
            "max_rolling_60s_by_bot": by_bot,
            "rate_limited_429": self.rate_limited_429,
            # 429s the quota answered, per bot (injected 429s count only in the total above).
            "quota_429_by_bot": dict(self._quota_refusals_by_bot),
            "accepted_by_bot": dict(self._accepted_by_bot),
            "accepted_per_second_by_bot": {
                bot: [[s, n] for s, n in sorted(seconds.items())]
                for bot, seconds in self._accepted_per_second_by_bot.items()
            },
            "forbidden_403": self.forbidden_403,
            "errors_sent": {str(code): n for code, n in sorted(self.errors_sent.items())},
            "auth_failures": dict(self.auth_failures),
            "receipts_sent": dict(self.receipts_sent),
            "receipts_queued": self.receipts_queued,
            "receipts_dropped": self.receipts_dropped,
            "messages_delivered": self.messages_delivered,
            "messages_read": self.messages_read,
            "user_messages_created": self.user_messages_created,
            "user_messages_pushed": self.user_messages_pushed,
            "user_messages_acknowledged": self.user_messages_acknowledged,
            "accepted_per_second": [[s, n] for s, n in sorted(self._accepted_per_second.items())],
            "requests": dict(self.requests),
            "connections_opened": self.connections_opened,
            "replies_dropped": self.replies_dropped,
            "replies_slowed": self.replies_slowed,
            "connections_cut": self.connections_cut,
        }
