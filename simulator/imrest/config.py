"""Settings of one IM REST simulator run: identities, limits, switches, recipients, faults.

Defaults follow the 'Simulator checklist' of specs/im-rest-protocol.md §6; every [ASSUMPTION]
it names is a field here, so that tests can flip it. `RecipientBehaviour.fast()` makes every
status change happen within a tenth of a second, for tests that wait for READ.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from simulator.imrest.faults import FaultPlan

#: §4: blazecast's limits, which the simulator enforces by default.
MAX_TARGETS = 100
MAX_BODY_BYTES = 128 * 1024
DEDUP_WINDOW_SECONDS = 60.0
#: The ids of the spec's examples: the sending account, then the users, then the groups.
SENDER_ID = 1099511627001
FIRST_USER_ID = 1099511627002
FIRST_GROUP_ID = 4503599627370501


@dataclass(frozen=True)
class RecipientBehaviour:
    """How one simulated recipient treats messages (delays in seconds).

    An online recipient's device stores a message `delivery_delay` after it was sent (UNREAD →
    DELIVERED) and reads it `read_delay` later (→ READ), or never when `read_delay` is None. An
    offline recipient changes nothing until it comes online.

    The probabilities and `spread` make a population whose true delivered and read rates are
    known (`fates`): a message is delivered with `delivery_probability`, a delivered one read
    with `read_probability`, and each delay is stretched by a seeded factor in
    `[1 - spread, 1 + spread]`. The defaults (1, 1, 0) keep the exact delays above.
    """

    online: bool = True
    delivery_delay: float = 0.5
    read_delay: float | None = 3.0
    delivery_probability: float = 1.0
    read_probability: float = 1.0
    spread: float = 0.0

    @classmethod
    def fast(cls, *, online: bool = True, reads: bool = True) -> RecipientBehaviour:
        """Delivered after 20 ms and, if `reads`, read 50 ms later: for tests."""
        return cls(online=online, delivery_delay=0.02, read_delay=0.05 if reads else None)

    def __post_init__(self) -> None:
        if self.delivery_delay < 0 or (self.read_delay is not None and self.read_delay < 0):
            raise ValueError("delays must not be negative")
        for name in ("delivery_probability", "read_probability", "spread"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1")


@dataclass(frozen=True)
class ImRestConfig:
    """Everything one run needs; `ImRestSimulator(ImRestConfig())` listens on a free port."""

    host: str = "127.0.0.1"
    port: int = 0
    seed: int = 1
    app_id: str = "blazecast-demo"
    # A second app with its own admin token: its token sent with our app_id is 10008.
    other_app_id: str = "blazecast-other"
    users: int = 100
    # Groups the sending account belongs to (each with `group_size` users), and groups it does
    # not belong to (sending to those is 20002).
    groups: int = 2
    foreign_groups: int = 1
    group_size: int = 10
    behaviour: RecipientBehaviour = field(default_factory=RecipientBehaviour)
    behaviours: Mapping[int, RecipientBehaviour] = field(default_factory=dict)
    faults: FaultPlan = field(default_factory=FaultPlan)

    max_targets: int = MAX_TARGETS
    max_body_bytes: int = MAX_BODY_BYTES
    # Dedup of transaction_id per (app_id, transaction_id); 0 disables it.
    dedup_window_seconds: float = DEDUP_WINDOW_SECONDS
    # A repeat with another body: deduplicated like any repeat, or refused with 10002.
    dedup_conflict: Literal["dedup", "reject"] = "dedup"
    # msg_ids in the send reply: for single-target sends (ZH: edition) or never (English).
    msg_ids: Literal["single", "never"] = "single"
    # The seed's table marks attachment required for every message; by default only for 1–4.
    strict_attachment: bool = False
    # Accept the ZH: content types READ_ACK=9 … REPLACE=12 as well as 0..7.
    zh_content_types: bool = False
    # A request with an unknown target executes nothing (default) or executes the valid ones.
    partial_execution: bool = False
    # Authentication failures as HTTP 401/403 (with the envelope) instead of HTTP 200.
    auth_http_status: bool = False
    # Pagination (§6 item 12), three self-consistent cursor styles:
    # "inclusive": msg_id_start is inclusive and next_msg_id the next message not yet returned;
    # "exclusive": msg_id_start is exclusive and next_msg_id the oldest message returned;
    # "overlap": msg_id_start is inclusive and next_msg_id the oldest message returned, so
    # each page repeats the last message of the previous one.
    paging: Literal["inclusive", "exclusive", "overlap"] = "inclusive"
    # Recalled messages: hidden from GET /message/conversation, or kept and flagged.
    keep_recalled: bool = False
    # GET /message/ack: also marks older messages to the same recipient READ.
    ack_marks_older: bool = True
    # Optional token bucket per app_id, counting requests; None: no limit.
    rate_limit_per_second: float | None = None
    rate_limit_burst: int = 10
    # Requests remembered for GET /_sim/requests.
    request_log_size: int = 10_000
    # The rolling window of the client's request budget: the stats report the largest number
    # of requests that arrived in any window this long, exactly (refused ones included).
    budget_window_seconds: float = 60.0

    def __post_init__(self) -> None:
        if self.users < 1:
            raise ValueError("users must be at least 1")
        if min(self.groups, self.foreign_groups, self.group_size) < 0:
            raise ValueError("groups, foreign_groups and group_size must not be negative")
        if self.max_targets < 1 or self.max_body_bytes < 1:
            raise ValueError("max_targets and max_body_bytes must be positive")
        if self.dedup_window_seconds < 0:
            raise ValueError("dedup_window_seconds must not be negative")
        if self.dedup_conflict not in ("dedup", "reject"):
            raise ValueError("dedup_conflict must be 'dedup' or 'reject'")
        if self.paging not in ("inclusive", "exclusive", "overlap"):
            raise ValueError("paging must be 'inclusive', 'exclusive' or 'overlap'")
        if self.msg_ids not in ("single", "never"):
            raise ValueError("msg_ids must be 'single' or 'never'")
        if self.rate_limit_per_second is not None and self.rate_limit_per_second <= 0:
            raise ValueError("rate_limit_per_second must be positive")
        if self.budget_window_seconds <= 0:
            raise ValueError("budget_window_seconds must be positive")
        if self.rate_limit_burst < 1:
            raise ValueError("rate_limit_burst must be at least 1")
        if self.app_id == self.other_app_id or not self.app_id:
            raise ValueError("app_id must be set and differ from other_app_id")

    def token(self, app_id: str, user_id: int | None = None) -> str:
        """The admin token of `app_id` (no user), or a user token; derived from the seed."""
        who = "admin" if user_id is None else f"user:{user_id}"
        digest = hashlib.sha256(f"imrest-sim|{self.seed}|{app_id}|{who}".encode()).hexdigest()
        return f"sim-{who.split(':')[0]}-{digest[:40]}"

    @property
    def user_ids(self) -> list[int]:
        """The recipients, in order; the sending account is not one of them."""
        return [FIRST_USER_ID + index for index in range(self.users)]

    @property
    def group_ids(self) -> list[int]:
        """Groups the sending account belongs to."""
        return [FIRST_GROUP_ID + index for index in range(self.groups)]

    @property
    def foreign_group_ids(self) -> list[int]:
        """Groups the sending account does not belong to."""
        return [FIRST_GROUP_ID + self.groups + index for index in range(self.foreign_groups)]

    def behaviour_of(self, user_id: int) -> RecipientBehaviour:
        return self.behaviours.get(user_id, self.behaviour)
