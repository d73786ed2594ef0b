"""``ImRestProvider``: the IM REST message API (seed 004) behind the provider boundary.

An announcement is one payload for every recipient, so a batch is one request: ``POST
/message/send`` (or ``/message/notify``, chosen per announcement) with up to 100 ``targets`` and
the batch's deterministic ``transaction_id`` (spec §3.1, §3.2); the bot's budget counts requests,
so a batch costs one token whatever its size. Recipients are int64 ids at most 2^53 − 1
(``user_ids``). A recall is one conversation walk to find the recipient's message by its ``ext``
marker and one ``POST /message/recall`` per message found (§3.4), so each recall request carries
one recipient and costs two tokens.

The server forgets a ``transaction_id`` after its dedup window, so a retry is safe only within
``retry_horizon_seconds`` of the batch's first request; past it ``after_horizon`` decides
(``mark_unknown``: the recipients' fate is reported unknown; ``resend``: send again). The token
is read when a transport is opened, never when the provider is built.
"""

from __future__ import annotations

import functools
import json
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from worker.messaging.errors import InvalidData
from worker.messaging.imrest.content import decode_payload, encode_content
from worker.messaging.imrest.marker import Marker
from worker.messaging.imrest.poller import ImRestStatusPolling
from worker.messaging.imrest.send_request import MAX_BODY_BYTES, MAX_TARGETS
from worker.messaging.imrest.settings import ENDPOINTS, ImRestSettings
from worker.messaging.imrest.transport import ImRestTransport
from worker.messaging.imrest.user_ids import check_user_id
from worker.messaging.provider import Addressee, BatchLimits, InvalidContent
from worker.messaging.transport import OutgoingMessage, Transport

RECALL = "MESSAGE_RECALL"
#: A recall request: one conversation walk (usually one page) and one recall.
RECALL_COST = 2


class ImRestProvider:
    name = "imrest"
    quota_unit = "requests"
    limits = BatchLimits(MAX_TARGETS, MAX_BODY_BYTES)

    def __init__(self, load_settings: Callable[[], ImRestSettings], *, policy: ImRestSettings):
        """``policy`` is the bot's settings with a placeholder token: what deciding needs
        (batch size, retry horizon, endpoint, polling); ``load_settings`` reads the real token."""
        self._load_settings = load_settings
        self.policy = policy
        self.status_polling = ImRestStatusPolling(policy, lambda: ImRestTransport(self.settings))

    def __repr__(self) -> str:
        return f"ImRestProvider(base_url={self.policy.base_url!r}, app_id={self.policy.app_id!r})"

    @functools.cached_property
    def settings(self) -> ImRestSettings:
        return self._load_settings()

    @property
    def retry_horizon(self) -> float | None:
        return self.policy.retry_horizon_seconds

    def may_retry(self, first_attempt_age: float) -> bool:
        return self.policy.may_resend(0.0, first_attempt_age)

    def encode_content(self, category: str, content: Any, *, endpoint: str | None = None) -> str:
        if endpoint is not None and endpoint not in ENDPOINTS:
            raise InvalidContent(f"endpoint {endpoint!r}: expected one of {', '.join(ENDPOINTS)}")
        payload = json.loads(encode_content(category, content))
        payload["endpoint"] = endpoint or self.policy.endpoint
        return json.dumps(payload, separators=(",", ":"), ensure_ascii=False)

    def check_user_id(self, raw: str) -> str:
        return check_user_id(raw)

    def messages(
        self,
        category: str,
        payload: str | None,
        recall_of: uuid.UUID | None,
        addressees: Sequence[Addressee],
        *,
        announcement_id: uuid.UUID,
    ) -> list[OutgoingMessage]:
        if recall_of is not None:
            data = _envelope({"recall_of": str(recall_of)})
            category = RECALL
        elif payload is None:
            raise ValueError("an announcement that is not a recall needs its payload")
        else:
            data = _envelope({"announcement_id": str(announcement_id), "payload": payload})
        return [
            OutgoingMessage(
                conversation_id=a.user_id,  # a one-to-one conversation is the other user's id
                recipient_id=a.user_id,
                message_id=a.message_id,
                category=category,
                data_base64=data,
            )
            for a in addressees
        ]

    def split(
        self, messages: Sequence[OutgoingMessage], max_messages: int
    ) -> list[list[OutgoingMessage]]:
        if messages and messages[0].category == RECALL:
            return [[m] for m in messages]
        size = max(1, min(max_messages, self.policy.batch_size))
        ordered = sorted(messages, key=lambda m: int(m.recipient_id))
        return [list(ordered[i : i + size]) for i in range(0, len(ordered), size)]

    def request_cost(self, messages: Sequence[OutgoingMessage]) -> int:
        return RECALL_COST if messages and messages[0].category == RECALL else 1

    def check_batch(self, messages: Sequence[OutgoingMessage]) -> None:
        if len(messages) > self.policy.batch_size:
            raise InvalidData(
                f"targets: {len(messages)} recipients; at most {self.policy.batch_size} per "
                "request",
                extra={"field": "targets"},
                provider="IM REST",
            )
        if len({m.data_base64 for m in messages}) > 1:
            raise ValueError("one IM REST request carries one payload to every target")

    def open_transport(self) -> Transport:
        return ImRestSending(ImRestTransport(self.settings))


@dataclass(frozen=True, slots=True)
class _Batch:
    """What ``ImRestSending`` reads back from a batch's messages."""

    announcement_id: str | None
    payload: str | None
    recall_of: str | None


def _envelope(fields: Mapping[str, str]) -> str:
    return json.dumps(fields, separators=(",", ":"), ensure_ascii=False)


def _read(messages: Sequence[OutgoingMessage]) -> _Batch:
    raw = json.loads(messages[0].data_base64)
    return _Batch(raw.get("announcement_id"), raw.get("payload"), raw.get("recall_of"))


class ImRestSending:
    """The ``Transport`` of an IM REST bot: one batch, one request (or, for a recall, a walk
    and a recall per recipient)."""

    name = "imrest"

    def __init__(self, transport: ImRestTransport) -> None:
        self.transport = transport

    def send_messages(self, messages: Sequence[OutgoingMessage]) -> None:
        if not messages:
            return
        batch = _read(messages)
        if batch.recall_of is not None:
            for message in messages:
                self._recall(batch.recall_of, int(message.recipient_id))
            return
        if batch.announcement_id is None or batch.payload is None:
            raise ValueError("an IM REST batch names its announcement and payload")
        content = decode_payload(batch.payload)
        endpoint = json.loads(batch.payload).get("endpoint")
        self.transport.send_batch(
            batch.announcement_id,
            [int(m.recipient_id) for m in messages],
            int(content.content_type),
            content.content,
            content.attachment,
            endpoint=endpoint,
        )

    def _recall(self, announcement_id: str, user_id: int) -> None:
        """Recall every message of ``announcement_id`` still in the recipient's conversation;
        one already recalled is no longer there, so a repeated recall does nothing."""
        rows = self.transport.conversation_status(
            user_id, marker=Marker(announcement_id), since_ms=0
        )
        for row in rows:
            self.transport.recall(user_id, row.msg_id)

    def close(self) -> None:
        self.transport.close()
