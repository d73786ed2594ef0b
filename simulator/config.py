"""Settings of one simulator run: server, limits, authentication policy and user behaviour.

Defaults follow the 'Simulator checklist' of specs/mixin-protocol.md; every choice the spec tags
[INFER] (or leaves open) is a field here so that tests can switch it. `UserBehaviour.fast()` makes
every delay short and every message read, for tests that wait for receipts.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from simulator.faults import FaultPlan

# §5.3 and §3.3: at most 100 messages and 128 KB of uncompressed JSON per batch request.
MAX_BATCH_MESSAGES = 100
MAX_BODY_BYTES = 128 * 1024
DEFAULT_QUOTA_PER_MINUTE = 100_000
# §1.4: a clock that is off by more than five minutes gets 401.
CLOCK_SKEW_SECONDS = 300.0
# §3.6: unacknowledged user messages are dropped after 7 days.
USER_MESSAGE_RETENTION_SECONDS = 7 * 24 * 3600.0


@dataclass(frozen=True)
class UserBehaviour:
    """How simulated recipients react to the bot's messages (all delays in seconds).

    Delays are lognormal: `*_median` is the median, `*_sigma` the spread of the underlying
    normal, `*_max` a cap so that a run always finishes. Fractions are drawn once per user from
    the seed; probabilities and delays once per message.
    """

    delivery_median: float = 0.3
    delivery_sigma: float = 0.8
    delivery_max: float = 30.0
    read_probability: float = 0.7
    read_median: float = 5.0
    read_sigma: float = 1.0
    read_max: float = 120.0
    never_read_fraction: float = 0.1
    blocked_fraction: float = 0.01
    # Users not yet in contact with the bot: sending to them is 403 until POST /conversations.
    non_contact_fraction: float = 0.0
    # Users whose devices are offline at the start: they deliver only once they come online.
    offline_fraction: float = 0.0
    offline_median: float = 30.0
    # Users with several devices send one DELIVERED receipt per device.
    multi_device_fraction: float = 0.05
    max_devices: int = 3
    # Options that exercise the client's monotonic receipt handling.
    duplicate_receipt_rate: float = 0.0
    out_of_order_rate: float = 0.0

    @classmethod
    def fast(cls, **overrides: Any) -> UserBehaviour:
        """Short delays (at most 0.2 s), every message read, nobody blocked: for tests."""
        base = cls(
            delivery_median=0.02,
            delivery_sigma=0.5,
            delivery_max=0.1,
            read_probability=1.0,
            read_median=0.03,
            read_sigma=0.5,
            read_max=0.1,
            never_read_fraction=0.0,
            blocked_fraction=0.0,
            multi_device_fraction=0.0,
        )
        return dataclasses.replace(base, **overrides)

    def __post_init__(self) -> None:
        for name in (
            "read_probability",
            "never_read_fraction",
            "blocked_fraction",
            "non_contact_fraction",
            "offline_fraction",
            "multi_device_fraction",
            "duplicate_receipt_rate",
            "out_of_order_rate",
        ):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, got {value}")
        for name in ("delivery_median", "read_median", "offline_median"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")
        if self.max_devices < 1:
            raise ValueError("max_devices must be at least 1")


@dataclass(frozen=True)
class SimConfig:
    """Everything a simulator run needs; `Simulator(SimConfig(port=0))` is a test fixture."""

    host: str = "127.0.0.1"
    port: int = 0
    seed: int = 1
    bots: int = 1
    users: int = 1000
    # A CSV (header `user_id`, optional `blocked`, `never_read`, `devices`) or a JSON list of ids;
    # when given it replaces the generated users.
    users_file: Path | None = None
    behaviour: UserBehaviour = field(default_factory=UserBehaviour)
    faults: FaultPlan = field(default_factory=FaultPlan)

    quota_per_minute: int = DEFAULT_QUOTA_PER_MINUTE
    # The quota window is configurable so that tests reach the limit quickly (§13).
    quota_window_seconds: float = 60.0
    max_batch_messages: int = MAX_BATCH_MESSAGES
    max_body_bytes: int = MAX_BODY_BYTES
    max_acknowledgements: int = 100

    # Payload rules of §6.2 (strict) or only "decodes and is not empty" (lenient).
    strict_payloads: bool = True
    # §3.3 documents CREATE_PLAIN_MESSAGES for PLAIN_* categories only.
    plain_only_websocket_batch: bool = True
    max_buttons: int = 6
    # Re-use of a message_id with different content: 10002 (reject) or treated as a duplicate.
    conflicting_reuse: Literal["reject", "accept"] = "reject"

    accept_rs512: bool = False
    clock_skew_seconds: float = CLOCK_SKEW_SECONDS
    # Also reject an `iat` older than the skew (Open question 7); off by default, as the desktop
    # client re-uses one websocket token for a year.
    strict_iat: bool = False
    unique_jti_http: bool = False

    # §2.4: the Node SDK drops a connection that sees no server ping for 30 s.
    ping_interval: float = 15.0
    # §2.1: a text or non-gzip frame closes the connection, optionally after an ERROR 400 frame.
    bad_frame_error_first: bool = False
    # Receipts produced while the bot has no listening connection: dropped (default) or queued.
    queue_receipts_offline: bool = False
    user_message_retention_seconds: float = USER_MESSAGE_RETENTION_SECONDS

    # Where the keystore of the first bot is written (a temporary folder when None).
    keystore_path: Path | None = None

    def __post_init__(self) -> None:
        if self.bots < 1:
            raise ValueError("bots must be at least 1")
        if self.users < 0:
            raise ValueError("users must not be negative")
        if self.quota_per_minute < 1 or self.quota_window_seconds <= 0:
            raise ValueError("quota_per_minute and quota_window_seconds must be positive")
        if self.max_batch_messages < 1 or self.max_body_bytes < 1:
            raise ValueError("max_batch_messages and max_body_bytes must be positive")
        if self.conflicting_reuse not in ("reject", "accept"):
            raise ValueError("conflicting_reuse must be 'reject' or 'accept'")
        if self.ping_interval <= 0:
            raise ValueError("ping_interval must be positive")
