"""``MixinProvider``: the Mixin Messenger API behind the provider boundary.

Message ids are UniqueObjectId(announcement, user) and conversations UniqueConversationId(bot,
user) (spec §4.5); batches hold at most 100 messages and 128 KB of body (§3.3); payloads are
validated per category by ``payloads``; a recall is a MESSAGE_RECALL naming the message that the
original announcement sent each recipient. The keystore is read when a transport is opened (or
the bot's id is first needed), never when the provider is built, so building one for validation
needs no key.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from worker.messaging.mixin.batching import (
    MAX_BATCH_BYTES,
    MAX_BATCH_MESSAGES,
    check_batch,
    split_batches,
)
from worker.messaging.mixin.ids import (
    canonical_uuid,
    message_id_for,
    unique_conversation_id,
)
from worker.messaging.mixin.keystore import Keystore
from worker.messaging.mixin.payloads import build_payload, encode_data
from worker.messaging.provider import Addressee, BatchLimits, InvalidContent
from worker.messaging.transport import OutgoingMessage, Transport

TRANSPORT_KINDS = ("blaze", "http")


class MixinProvider:
    name = "mixin"
    quota_unit = "messages"
    status_polling = None  # receipts are pushed (Blaze ACKNOWLEDGE_MESSAGE_RECEIPT)
    #: Mixin deduplicates by message id for good: a retry is always safe.
    retry_horizon = None
    limits = BatchLimits(MAX_BATCH_MESSAGES, MAX_BATCH_BYTES)

    def __init__(
        self,
        load_keystore: Callable[[], Keystore],
        *,
        transport: str = "blaze",
        api_url: str = "https://api.mixin.one",
        blaze_url: str = "wss://blaze.mixin.one",
        timeout: float = 5.0,
    ) -> None:
        if transport not in TRANSPORT_KINDS:
            raise ValueError(
                f"transport {transport!r}: expected one of {', '.join(TRANSPORT_KINDS)}"
            )
        self._load_keystore = load_keystore
        self.transport = transport
        self.api_url = api_url
        self.blaze_url = blaze_url
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"MixinProvider(transport={self.transport!r}, api_url={self.api_url!r})"

    @functools.cached_property
    def keystore(self) -> Keystore:
        return self._load_keystore()

    @property
    def bot_user_id(self) -> str:
        return str(self.keystore.app_id)

    def may_retry(self, first_attempt_age: float) -> bool:
        return True

    def encode_content(self, category: str, content: Any, *, endpoint: str | None = None) -> str:
        if endpoint is not None:
            raise InvalidContent(f"endpoint {endpoint!r}: Mixin bots have one way to send")
        return encode_data(build_payload(category, content))

    def check_user_id(self, raw: str) -> str:
        return canonical_uuid(raw.strip(), "user_id")

    def messages(
        self,
        category: str,
        payload: str | None,
        recall_of: uuid.UUID | None,
        addressees: Sequence[Addressee],
        *,
        announcement_id: uuid.UUID,
    ) -> list[OutgoingMessage]:
        if recall_of is None and payload is None:
            raise ValueError("an announcement that is not a recall needs its payload")
        bot = self.bot_user_id
        return [
            OutgoingMessage(
                # Always the 1:1 conversation of bot and user: a stored id from elsewhere (a
                # group the user first spoke in) would send the announcement there.
                conversation_id=unique_conversation_id(bot, a.user_id),
                recipient_id=a.user_id,
                message_id=a.message_id,
                category=category,
                data_base64=_recall(recall_of, a.user_id) if recall_of else str(payload),
            )
            for a in addressees
        ]

    def split(
        self, messages: Sequence[OutgoingMessage], max_messages: int
    ) -> list[list[OutgoingMessage]]:
        return split_batches(messages, max_messages=min(max_messages, MAX_BATCH_MESSAGES))

    def request_cost(self, messages: Sequence[OutgoingMessage]) -> int:
        return len(messages)

    def check_batch(self, messages: Sequence[OutgoingMessage]) -> None:
        check_batch(messages)

    def open_transport(self) -> Transport:
        from worker.messaging.factory import make_transport

        return make_transport(
            self.transport,
            self.keystore,
            api_url=self.api_url,
            blaze_url=self.blaze_url,
            timeout=self.timeout,
        )


def _recall(announcement_id: uuid.UUID, user_id: str) -> str:
    original = message_id_for(announcement_id, user_id)
    return encode_data(build_payload("MESSAGE_RECALL", {"message_id": original}))
