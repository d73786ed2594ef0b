"""Accepting a batch of outgoing messages, the same way for the websocket and HTTP.

The order of checks, each rejecting the whole batch (the team's reading of Open question 2):
batch size and body size (10002), each message's fields and payload (10002), its recipient and
conversation (403, or 10002 for a conversation id that is not UniqueConversationId), a
conflicting re-use of a message_id (10002 unless configured to accept), then the bot's rolling
quota (429). Only a batch that passes everything is accepted and counted, duplicates included;
a repeated message_id is acknowledged without a second delivery (§4.6).
"""

from __future__ import annotations

import time
from typing import Any

from simulator.config import SimConfig
from simulator.errors import ApiError, forbidden, invalid_field
from simulator.ids import unique_conversation_id
from simulator.ledger import Ledger, MessageRecord
from simulator.messages import OutgoingMessage, parse_message
from simulator.payloads import CONTROL_CATEGORIES, PayloadRules
from simulator.population import Population, User
from simulator.receipts import ReceiptScheduler
from simulator.stats import Stats
from simulator.windows import RollingCount


class MessageIntake:
    """Validates, rate-limits and records batches; plans their receipts."""

    def __init__(
        self,
        config: SimConfig,
        population: Population,
        ledger: Ledger,
        stats: Stats,
        receipts: ReceiptScheduler,
    ) -> None:
        self._config = config
        self._population = population
        self._ledger = ledger
        self._stats = stats
        self._receipts = receipts
        self._rules = PayloadRules(strict=config.strict_payloads, max_buttons=config.max_buttons)
        self._quota: dict[str, RollingCount] = {}

    def quota_used(self, bot_id: str) -> int:
        window = self._quota.get(bot_id)
        return window.total(time.monotonic()) if window else 0

    def submit(
        self, bot_id: str, objects: list[Any], body_bytes: int, *, transport: str, plain_only: bool
    ) -> list[MessageRecord]:
        """Accept every message of the batch or none; returns their ledger records in order."""
        config = self._config
        if not objects:
            raise invalid_field("messages", "the batch is empty")
        if len(objects) > config.max_batch_messages:
            raise invalid_field(
                "messages",
                f"at most {config.max_batch_messages} messages per request",
                count=len(objects),
            )
        if body_bytes > config.max_body_bytes:
            raise invalid_field(
                "body", f"the request exceeds {config.max_body_bytes} bytes", bytes=body_bytes
            )
        checked: list[tuple[OutgoingMessage, User, int]] = []
        seen: dict[str, int] = {}
        for index, obj in enumerate(objects):
            message = parse_message(obj, index, self._rules, plain_only=plain_only)
            user = self._recipient(bot_id, message)
            fingerprint = hash(
                (message.conversation_id, user.user_id, message.category, message.payload)
            )
            self._check_reuse(message, fingerprint, seen)
            checked.append((message, user, fingerprint))

        now = time.monotonic()
        window = self._quota.get(bot_id)
        if window is None:
            window = self._quota[bot_id] = RollingCount(config.quota_window_seconds)
        if window.total(now) + len(checked) > config.quota_per_minute:
            self._stats.quota_refused(bot_id)
            raise ApiError(429)
        window.add(now, len(checked))
        self._stats.accepted(bot_id, len(checked), now, int(time.time()))
        records = [self._record(bot_id, m, u, f, transport, now) for m, u, f in checked]
        self._receipts.arm()
        return records

    def _recipient(self, bot_id: str, message: OutgoingMessage) -> User:
        """The user the message goes to, after the conversation rules of checklist item 11."""
        population = self._population
        context = {"index": message.index, "message_id": message.message_id}
        owner = population.user_in(bot_id, message.conversation_id)
        recipient_id = message.recipient_id or owner
        if recipient_id is None:
            raise forbidden("the conversation does not exist", **context)
        user = population.users.get(recipient_id)
        if user is None:
            raise forbidden("unknown user", recipient_id=recipient_id, **context)
        if owner is not None and owner != recipient_id:
            raise forbidden(
                "the recipient is not in this conversation", recipient_id=recipient_id, **context
            )
        if owner is None:
            if message.conversation_id != unique_conversation_id(bot_id, recipient_id):
                raise invalid_field(
                    "conversation_id", "must be UniqueConversationId(bot, recipient)", **context
                )
            raise forbidden("the conversation does not exist", recipient_id=recipient_id, **context)
        if user.blocked:
            raise forbidden("the user blocked the bot", recipient_id=recipient_id, **context)
        return user

    def _check_reuse(
        self, message: OutgoingMessage, fingerprint: int, seen: dict[str, int]
    ) -> None:
        """A message_id re-used with other content is refused unless configured otherwise."""
        record = self._ledger.get(message.message_id)
        previous = record.fingerprint if record is not None else seen.get(message.message_id)
        seen[message.message_id] = fingerprint
        if (
            previous is not None
            and previous != fingerprint
            and self._config.conflicting_reuse == "reject"
        ):
            raise invalid_field(
                "message_id",
                "already used for a different message",
                index=message.index,
                message_id=message.message_id,
            )

    def _record(
        self,
        bot_id: str,
        message: OutgoingMessage,
        user: User,
        fingerprint: int,
        transport: str,
        now: float,
    ) -> MessageRecord:
        stats, ledger = self._stats, self._ledger
        record = ledger.get(message.message_id)
        if record is not None:
            record.times_sent += 1
            stats.duplicate_message_ids += 1
            stats.conflicting_message_ids += record.fingerprint != fingerprint
            return record
        record = MessageRecord(
            message_id=message.message_id,
            bot_id=bot_id,
            recipient_id=user.user_id,
            conversation_id=message.conversation_id,
            category=message.category,
            fingerprint=fingerprint,
            transport=transport,
            accepted_at_ns=time.time_ns(),
        )
        ledger.add(record)
        stats.distinct_message_ids += 1
        if message.category in CONTROL_CATEGORIES:
            target = ledger.get(message.recalls) if message.recalls else None
            if target is not None and target.bot_id == bot_id:
                target.recalled = True
                stats.recalls += 1
        else:
            stats.visible_messages += 1
            self._receipts.plan(record, user, now)
        return record
