"""What the recipients really got and did: the truth a client's counters are checked against.

Two views of the messages addressed to users (group messages have no status, spec §3.3 step 5):

- `per_user`: how many copies of the same message (same content type, content and attachment)
  each user received, recalled ones included, since a recall does not undo a notification seen.
  `{"copies": {"1": 5000}}` is the proof that every user saw the message exactly once; a resend
  that the dedup missed shows up as a `"2"`. `users_visible` counts users who can still see one.
- `status_truth`: the messages not recalled, by status now, and by `eventual` status (what each
  message's drawn fate makes of it, see `fates`). A client that polls a sample estimates the
  read rate; `eventual["READ"] / messages` is the rate it estimates.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from simulator.imrest.messages import STATUSES, Message


def recipients_truth(messages: Iterable[Message], now: float) -> dict[str, Any]:
    """`per_user` and `status_truth` of `GET /_sim/stats`, over every message to a user."""
    copies: Counter[tuple[int, str, str, str]] = Counter()
    visible_to: set[int] = set()
    current: Counter[str] = Counter({name: 0 for name in STATUSES})
    eventual: Counter[str] = Counter({name: 0 for name in STATUSES})
    for message in messages:
        if message.to_group:
            continue
        copies[(message.to_uid, message.ctype, message.content, message.attachment)] += 1
        if message.recalled:
            continue
        visible_to.add(message.to_uid)
        current[message.status(now)] += 1
        eventual[message.eventual_status()] += 1
    histogram = Counter(copies.values())
    return {
        "per_user": {
            "users": len({user for user, *_ in copies}),
            "users_visible": len(visible_to),
            "copies": {str(count): pairs for count, pairs in sorted(histogram.items())},
            "duplicated": sum(pairs for count, pairs in histogram.items() if count > 1),
        },
        "status_truth": {
            "messages": sum(current.values()),
            "now": dict(current),
            "eventual": dict(eventual),
        },
    }
