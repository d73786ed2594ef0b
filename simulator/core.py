"""The simulator's state and the operations both transports and the control API share.

`SimulatorCore` is built on the event loop's thread and used only there; the transports
(`blaze.py`, `http_api.py`, `control.py`) translate frames and requests into these calls and
their results back into the documented shapes.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass
from typing import Any

from simulator.auth import AuthError, AuthPolicy, TokenVerifier
from simulator.config import SimConfig
from simulator.errors import ApiError, invalid_field
from simulator.faults import Fault, FaultInjector, FaultPlan
from simulator.hub import Connection, Hub
from simulator.identity import BotIdentity
from simulator.ids import is_lowercase_uuid
from simulator.inbox import Inbox, UserMessage
from simulator.intake import MessageIntake
from simulator.ledger import Ledger, MessageRecord
from simulator.population import Population
from simulator.receipts import ReceiptScheduler
from simulator.stats import Stats

# §3.6: the system greets the bot for a user who adds it as a contact.
FIRST_CONTACT_GREETING = "Hello"


@dataclass(frozen=True)
class SendOutcome:
    """What became of a sending request: the fault drawn, and records or an error."""

    fault: Fault
    records: list[MessageRecord] | None = None
    error: ApiError | None = None


class SimulatorCore:
    """Everything one running simulator knows; not thread-safe, lives on its event loop."""

    def __init__(
        self, config: SimConfig, identities: list[BotIdentity], population: Population
    ) -> None:
        self.config = config
        self.identities = {identity.bot_id: identity for identity in identities}
        self.default_bot_id = identities[0].bot_id
        self.population = population
        self.started_at = time.monotonic()
        self.started_at_ns = time.time_ns()
        self.stats = Stats()
        self.ledger = Ledger()
        self.hub = Hub(queue_offline=config.queue_receipts_offline)
        self.faults = FaultInjector(config.faults)
        self.inbox = Inbox(config.user_message_retention_seconds)
        self.receipts = ReceiptScheduler(
            config.behaviour,
            self.ledger,
            self.stats,
            self.hub,
            seed=config.seed,
            started_at=self.started_at,
        )
        self.intake = MessageIntake(config, population, self.ledger, self.stats, self.receipts)
        self._verifier = TokenVerifier(
            identities,
            AuthPolicy(
                accept_rs512=config.accept_rs512,
                clock_skew_seconds=config.clock_skew_seconds,
                strict_iat=config.strict_iat,
            ),
        )
        self._seen_jti: dict[str, float] = {}
        loop = asyncio.get_running_loop()
        self._pinger = loop.call_later(config.ping_interval, self._ping)

    def _ping(self) -> None:
        self.hub.ping_all()
        self._pinger = asyncio.get_running_loop().call_later(self.config.ping_interval, self._ping)

    def close(self) -> None:
        self._pinger.cancel()
        self.receipts.close()

    # -- authentication ---------------------------------------------------------------------

    def authenticate(self, authorization: str | None, expected_sig: str, *, http: bool) -> str:
        """The bot id of a valid token, else AuthError (counted by reason)."""
        now = time.time()
        try:
            bot_id, claims = self._verifier.verify(authorization, expected_sig, now)
            if http and self.config.unique_jti_http:
                self._check_jti(claims.get("jti"), float(claims["exp"]), now)
        except AuthError as error:
            self.stats.auth_failures[error.reason] += 1
            raise
        return bot_id

    def _check_jti(self, jti: object, expires: float, now: float) -> None:
        if not isinstance(jti, str) or not jti:
            raise AuthError("jti missing")
        if jti in self._seen_jti:
            raise AuthError("jti re-used")
        if len(self._seen_jti) > 100_000:
            self._seen_jti = {k: exp for k, exp in self._seen_jti.items() if exp > now}
        self._seen_jti[jti] = expires

    # -- the bot sends ----------------------------------------------------------------------

    def send(
        self,
        bot_id: str,
        objects: list[Any],
        body_bytes: int,
        *,
        transport: str,
        plain_only: bool = False,
    ) -> SendOutcome:
        """One sending request: draw its fault, then accept the batch unless the fault forbids."""
        self.stats.saw_batch(len(objects), body_bytes)
        fault = self.faults.for_send()
        if fault.kind == "error":
            return SendOutcome(fault, error=ApiError(fault.code))
        if not fault.accept:
            return SendOutcome(fault)
        try:
            records = self.intake.submit(
                bot_id, objects, body_bytes, transport=transport, plain_only=plain_only
            )
        except ApiError as error:
            return SendOutcome(fault, error=error)
        return SendOutcome(fault, records=records)

    # -- messages users send to the bot -------------------------------------------------------

    def acknowledge(self, bot_id: str, entries: object) -> list[dict[str, Any]]:
        """Apply acks `[{message_id, status}, …]` (≤ the configured maximum); returns them."""
        if not isinstance(entries, list) or len(entries) > self.config.max_acknowledgements:
            raise invalid_field(
                "messages", f"must be a list of at most {self.config.max_acknowledgements} acks"
            )
        for index, entry in enumerate(entries):
            if not isinstance(entry, dict) or not is_lowercase_uuid(entry.get("message_id")):
                raise invalid_field("message_id", "must be a lowercase UUID", index=index)
        for entry in entries:
            if self.inbox.acknowledge(bot_id, entry["message_id"], entry.get("status")):
                self.stats.user_messages_acknowledged += 1
        return entries

    def start_listening(self, connection: Connection) -> None:
        """After LIST_PENDING_MESSAGES: replay the backlog oldest first, then push live."""
        for message in self.inbox.pending(connection.bot_id, time.time_ns()):
            connection.send(message.push_frame("LIST_PENDING_MESSAGES"))
            self.stats.user_messages_pushed += 1
        self.hub.listen(connection)

    def user_says(self, user_id: str, text: str, bot_id: str | None = None) -> list[dict[str, Any]]:
        """A user sends the bot a PLAIN_TEXT; a first contact greets it with "Hello" first."""
        if not is_lowercase_uuid(user_id):
            raise ValueError(f"user id {user_id!r} is not a lowercase UUID")
        bot_id = bot_id or self.default_bot_id
        if bot_id not in self.identities:
            raise ValueError(f"unknown bot {bot_id!r}")
        user = self.population.add_user(user_id)
        texts = [text]
        if self.population.conversation_of(bot_id, user_id) is None:
            texts.insert(0, FIRST_CONTACT_GREETING)
        conversation_id = self.population.add_contact(bot_id, user_id)
        created = []
        for body in texts:
            message = UserMessage(
                message_id=str(uuid.uuid4()),
                bot_id=bot_id,
                user_id=user_id,
                session_id=user.session_id(),
                conversation_id=conversation_id,
                category="PLAIN_TEXT",
                data=body.encode(),
                created_ns=time.time_ns(),
            )
            self.inbox.add(message)
            self.stats.user_messages_created += 1
            # Without a listener the message simply waits in the inbox for the next
            # LIST_PENDING_MESSAGES; it must not also sit in the hub's offline queue.
            if self.hub.has_listener(bot_id):
                self.hub.push(bot_id, message.push_frame("CREATE_MESSAGE"))
                self.stats.user_messages_pushed += 1
            created.append(
                {"message_id": message.message_id, "conversation_id": conversation_id, "text": body}
            )
        return created

    # -- control ------------------------------------------------------------------------------

    def set_faults(self, raw: dict[str, Any]) -> dict[str, Any]:
        self.faults.replace(FaultPlan.from_dict(raw))
        return self.faults.plan.to_dict()

    def reset(self) -> None:
        self.stats.reset()
        self.faults.injected.clear()

    def snapshot(self) -> dict[str, Any]:
        """The whole `GET /_sim/stats` document."""
        data = self.stats.snapshot()
        data.update(
            faults_injected=dict(self.faults.injected),
            receipts_pending=self.receipts.pending,
            user_messages_pending=self.inbox.count(),
            connections_open=len(self.hub.connections),
            connections_listening=sum(1 for c in self.hub.connections if c.listening),
            quota_used_by_bot={bot: self.intake.quota_used(bot) for bot in self.identities},
            quota_per_minute=self.config.quota_per_minute,
            quota_window_seconds=self.config.quota_window_seconds,
            uptime_seconds=round(time.monotonic() - self.started_at, 3),
        )
        return data

    def message_state(self, message_id: str) -> dict[str, Any] | None:
        record = self.ledger.get(message_id)
        return record.to_json() if record else None
