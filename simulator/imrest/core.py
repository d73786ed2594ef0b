"""`ImRestCore`: the seven operations of the IM REST message API, over the simulator's state.

Handlers in `http_api` authenticate, parse and hand over; everything here runs on the server's
event loop, so no lock is needed. Operations raise `ImRestError` for any outcome but success.
"""

from __future__ import annotations

import dataclasses
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from simulator.imrest.auth import Actor, TokenGrant
from simulator.imrest.bucket import RequestBucket
from simulator.imrest.config import SENDER_ID, ImRestConfig, RecipientBehaviour
from simulator.imrest.dedup import DedupWindow
from simulator.imrest.errors import (
    GROUP_NOT_FOUND,
    NO_PERMISSION,
    NOT_GROUP_MEMBER,
    USER_NOT_FOUND,
    ImRestError,
    invalid,
)
from simulator.imrest.fates import draw_fate
from simulator.imrest.faults import FaultInjector, FaultPlan
from simulator.imrest.messages import STATUSES, Message
from simulator.imrest.stats import Stats
from simulator.imrest.store import MessageStore
from simulator.imrest.truth import recipients_truth
from simulator.imrest.validation import SendBody, parse_send_body

#: §6 item 12: `limit` of GET /message/conversation.
MAX_PAGE_LIMIT = 100


@dataclass(frozen=True)
class SendOutcome:
    """The reply to an executed (or deduplicated) send: `data` true, maybe `msg_ids`."""

    msg_ids: tuple[int, ...] | None
    deduplicated: bool
    transaction_id: int | None


class ImRestCore:
    """Users, groups, tokens, messages, dedup memory, faults and counters of one run."""

    def __init__(
        self,
        config: ImRestConfig,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall_clock_ms: Callable[[], int] = lambda: time.time_ns() // 1_000_000,
    ) -> None:
        self.config = config
        self.clock = clock
        self.wall_clock_ms = wall_clock_ms
        self.apps = frozenset({config.app_id, config.other_app_id})
        recipients = config.user_ids
        self.users = {SENDER_ID, *recipients}
        self.tokens: dict[str, TokenGrant] = {
            config.token(app): TokenGrant(app, None) for app in self.apps
        }
        for user in sorted(self.users):
            self.tokens[config.token(config.app_id, user)] = TokenGrant(config.app_id, user)
        groups: dict[int, frozenset[int]] = {}
        size = config.group_size
        for index, group_id in enumerate(config.group_ids + config.foreign_group_ids):
            members = recipients[index * size : (index + 1) * size]
            with_sender = group_id in config.group_ids
            groups[group_id] = frozenset(members) | ({SENDER_ID} if with_sender else frozenset())
        self.store = MessageStore(groups)
        self.behaviours: dict[int, RecipientBehaviour] = dict(config.behaviours)
        self.dedup = DedupWindow(config.dedup_window_seconds)
        self.faults = FaultInjector(config.faults)
        self.stats = Stats(config.request_log_size, config.budget_window_seconds)
        self.bucket: RequestBucket | None = None
        if config.rate_limit_per_second is not None:
            self.bucket = RequestBucket(config.rate_limit_per_second, config.rate_limit_burst)

    # -- sending ------------------------------------------------------------------------------

    def send(self, actor: Actor, endpoint: str, raw: bytes) -> SendOutcome:
        """`POST|PUT /message/send` or `/message/notify` (§2.4, §2.6, checklist 4–8)."""
        cfg = self.config
        body = parse_send_body(
            raw,
            max_targets=cfg.max_targets,
            max_body_bytes=cfg.max_body_bytes,
            strict_attachment=cfg.strict_attachment,
            zh_content_types=cfg.zh_content_types,
        )
        sender = self._sender(actor, body.from_user_id)
        now = self.clock()
        seen = self.dedup.lookup(actor.app_id, body.transaction_id, now)
        if seen is not None:
            if seen.fingerprint != f"{endpoint}|{body.fingerprint}":
                self.dedup.conflicts += 1
                if cfg.dedup_conflict == "reject":
                    raise invalid("transaction_id", "was already used for a different request")
            self.dedup.hits += 1
            return SendOutcome(seen.msg_ids, True, body.transaction_id)
        valid, refusal = self._check_targets(body, sender)
        if refusal is not None and not cfg.partial_execution:
            raise refusal
        created = [self._create(body, sender, target, endpoint, now) for target in valid]
        self.stats.executed(endpoint, len(body.targets), len(created))
        if refusal is not None:
            raise refusal  # partial execution: the valid targets got their message anyway
        msg_ids = None
        if cfg.msg_ids == "single" and len(body.targets) == 1:
            msg_ids = tuple(message.msg_id for message in created)
        self.dedup.remember(
            actor.app_id, body.transaction_id, f"{endpoint}|{body.fingerprint}", msg_ids, now
        )
        return SendOutcome(msg_ids, False, body.transaction_id)

    def _sender(self, actor: Actor, from_user_id: int | None) -> int:
        if from_user_id is not None:
            if not actor.admin and from_user_id != actor.user_id:
                raise ImRestError(NO_PERMISSION, "a user token sends only as its own user")
            sender = from_user_id
        else:
            sender = actor.user_id if actor.user_id is not None else SENDER_ID
        if sender not in self.users:
            raise ImRestError(USER_NOT_FOUND, f"sender {sender}")
        return sender

    def _check_targets(self, body: SendBody, sender: int) -> tuple[list[int], ImRestError | None]:
        """The targets that can receive, and the refusal the others cause (if any)."""
        refusal: ImRestError | None = None
        if body.type == 1:
            unknown = [target for target in body.targets if target not in self.users]
            if unknown:
                refusal = ImRestError(USER_NOT_FOUND, _ids("targets", unknown))
            return [t for t in body.targets if t not in unknown], refusal
        groups = self.store.groups
        unknown = [target for target in body.targets if target not in groups]
        outside = [t for t in body.targets if t in groups and sender not in groups[t]]
        if unknown:
            refusal = ImRestError(GROUP_NOT_FOUND, _ids("targets", unknown))
        elif outside:
            refusal = ImRestError(NOT_GROUP_MEMBER, _ids("sender not in groups", outside))
        return [t for t in body.targets if t not in unknown and t not in outside], refusal

    def _create(
        self, body: SendBody, sender: int, target: int, endpoint: str, now: float
    ) -> Message:
        fields: dict[str, Any] = {
            "ctype": body.ctype,
            "content": body.content,
            "attachment": body.attachment,
            "config": body.config,
            "ext": body.ext,
            "transaction_id": body.transaction_id,
            "endpoint": endpoint,
        }
        behaviour = None
        if target not in self.store.groups:
            behaviour = self.behaviour_of(target)
            nth = self.store.count_to(target)
            fields["fate"] = draw_fate(self.config.seed, target, nth, behaviour)
        return self.store.create(
            from_uid=sender,
            to_uid=target,
            fields=fields,
            now=now,
            now_ms=self.wall_clock_ms(),
            behaviour=behaviour,
        )

    # -- recipients ---------------------------------------------------------------------------

    def behaviour_of(self, user_id: int) -> RecipientBehaviour:
        return self.behaviours.get(user_id, self.config.behaviour)

    def set_recipient(self, user_id: int, **changes: Any) -> dict[str, Any]:
        """Change how a recipient behaves; coming online plans what waited, going offline pauses."""
        if user_id not in self.users:
            raise ValueError(f"unknown user {user_id}")
        behaviour = dataclasses.replace(self.behaviour_of(user_id), **changes)
        self.behaviours[user_id] = behaviour
        now = self.clock()
        for message in self.store.to_user(user_id):
            if behaviour.online:
                message.schedule(behaviour, now)
            else:
                message.pause(now)
        return dataclasses.asdict(behaviour)

    def set_status(self, msg_id: int, status: str) -> dict[str, Any]:
        """Test hook: move a message forward to `status` (never back)."""
        if status not in STATUSES:
            raise ValueError(f"status must be one of {', '.join(STATUSES)}")
        message = self.store.messages.get(msg_id)
        if message is None:
            raise ValueError(f"unknown msg_id {msg_id}")
        message.force(status)
        return message.state(self.clock())

    # -- observability ------------------------------------------------------------------------

    def message_state(self, msg_id: int) -> dict[str, Any] | None:
        message = self.store.messages.get(msg_id)
        return None if message is None else message.state(self.clock())

    def set_faults(self, raw: Mapping[str, Any]) -> dict[str, Any]:
        """Replace the fault plan from its JSON form; an empty mapping clears it."""
        self.faults.replace(FaultPlan.from_dict(raw))
        return self.faults.plan.to_dict()

    def reset(self) -> None:
        self.stats.reset()
        self.dedup.reset_counters()
        self.faults.injected.clear()

    def snapshot(self) -> dict[str, Any]:
        now = self.clock()
        statuses: Counter[str] = Counter({name: 0 for name in STATUSES})
        recalled = 0
        for message in self.store.messages.values():
            statuses[message.status(now)] += 1
            recalled += message.recalled
        return {
            **self.stats.snapshot(),
            "dedup": self.dedup.counters(),
            "messages": {"total": len(self.store.messages), **statuses, "recalled": recalled},
            **recipients_truth(self.store.messages.values(), now),
            "faults_injected": dict(self.faults.injected),
            "app_id": self.config.app_id,
            "users": len(self.config.user_ids),
        }


def _ids(label: str, ids: list[int]) -> str:
    shown = ", ".join(map(str, ids[:10]))
    return f"{label} {shown}" + (f" and {len(ids) - 10} more" if len(ids) > 10 else "")
