"""The provider boundary: everything the pipeline needs from one messaging API, in one interface.

``worker/broadcast/`` talks to a provider only through a ``Provider`` (and the ``Transport`` it
opens, and the error tree of ``worker.messaging.errors``); it imports no provider package (a test
holds it to that). A provider owns what is specific to its API: how a recipient's message is built
and identified, the batch limits (count and bytes), the payload codec and its validation per
category, the mapping of its errors into the shared tree, and recall. Each bot has one provider
instance, built by ``worker.bots.make_provider`` from the bot's row and settings.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from worker.messaging.transport import OutgoingMessage, Transport


class InvalidContent(ValueError):
    """An announcement's content that the provider cannot carry; the message names the field."""


class UnsupportedCategory(InvalidContent):
    """A category the provider cannot carry at all; the message names it."""


@dataclass(frozen=True, slots=True)
class BatchLimits:
    """The most one request may carry: messages, and bytes of request body."""

    max_messages: int
    max_bytes: int


@dataclass(frozen=True, slots=True)
class Addressee:
    """One recipient of a batch, as the pipeline knows them (ids as the text the wire carries)."""

    user_id: str
    message_id: str
    conversation_id: str | None = None


class OutOfTokens(Exception):
    """Status polling ran out of request budget in the middle of a walk: nothing was learned."""


@dataclass(frozen=True, slots=True)
class PolledStatus:
    """What one status poll saw of one recipient's message.

    ``status`` is the provider's word (``UNREAD``, ``DELIVERED``, ``READ``) or ``MISSING`` (no
    message of the announcement in the conversation); ``receipt`` the forward-only receipt it
    means (``DELIVERED`` or ``READ``; ``None`` moves nothing); ``msg_id`` the provider's id.
    """

    status: str
    receipt: str | None
    msg_id: int | None


class StatusPoller(Protocol):
    """A connection that reads message statuses back (credentials read when it was opened)."""

    def poll(
        self,
        user_id: str,
        announcement_id: str,
        *,
        since_ms: int,
        take_page: Callable[[], bool],
    ) -> PolledStatus:
        """The status of ``announcement_id``'s message to ``user_id``. ``take_page`` is called
        before every request and pays for it; when it answers False the walk stops with
        ``OutOfTokens``. Raises the ``MessagingError`` tree otherwise."""
        ...

    def close(self) -> None: ...


class StatusPolling(Protocol):
    """A provider that pushes no receipts: statuses are polled on a schedule after sending."""

    @property
    def delays(self) -> tuple[float, ...]:
        """Seconds after sending at which a recipient is polled (strictly increasing)."""
        ...

    @property
    def poll_share(self) -> float:
        """The share of the bot's request budget that polling may use."""
        ...

    def sample_size(self, audience: int) -> int:
        """Recipients to poll out of ``audience``: all of them up to the bot's sampling
        threshold, else the size of a uniform sample."""
        ...

    def sample_prefix(self, seed: str) -> str:
        """The text hashed before a recipient's user id for its sample key (SQL-reproducible)."""
        ...

    def next_poll(self, sent_at: float, polled_at: float, status: str) -> float | None:
        """When to poll again after a poll at ``polled_at`` saw ``status``; None: never."""
        ...

    def open_poller(self) -> StatusPoller: ...


class Provider(Protocol):
    """One bot's messaging API."""

    #: ``mixin`` or ``imrest`` (``bots.provider``).
    name: str
    #: What the bot's quota counts: ``messages`` (Mixin) or ``requests`` (IM REST).
    quota_unit: str
    limits: BatchLimits

    @property
    def status_polling(self) -> StatusPolling | None:
        """How statuses come back when the provider pushes no receipts (IM REST); None: pushed."""
        ...

    @property
    def retry_horizon(self) -> float | None:
        """Seconds after a batch's first request during which a retry is deduplicated by the
        provider; ``None``: always (Mixin deduplicates by message id for good)."""
        ...

    def may_retry(self, first_attempt_age: float) -> bool:
        """Whether a batch first sent ``first_attempt_age`` seconds ago may be sent again."""
        ...

    def encode_content(self, category: str, content: Any, *, endpoint: str | None = None) -> str:
        """Validate ``content`` for ``category``; return the payload stored with the announcement.

        ``endpoint`` picks the provider's kind of message where it has several (IM REST ``send``
        or ``notify``). Raises ``InvalidContent`` naming the field (or the category the provider
        cannot carry).
        """
        ...

    def check_user_id(self, raw: str) -> str:
        """The canonical text of a user id of this provider; ``ValueError`` if it is not one."""
        ...

    def messages(
        self,
        category: str,
        payload: str | None,
        recall_of: uuid.UUID | None,
        addressees: Sequence[Addressee],
        *,
        announcement_id: uuid.UUID,
    ) -> list[OutgoingMessage]:
        """The messages of one batch of ``announcement_id``: ``payload`` to each addressee, or,
        for a recall (``recall_of`` set, ``payload`` None), the recall of what that announcement
        sent them."""
        ...

    def split(
        self, messages: Sequence[OutgoingMessage], max_messages: int
    ) -> list[list[OutgoingMessage]]:
        """``messages`` in order, cut into requests within ``limits`` and ``max_messages``."""
        ...

    def request_cost(self, messages: Sequence[OutgoingMessage]) -> int:
        """Tokens of the bot's quota that one request carrying ``messages`` takes."""
        ...

    def check_batch(self, messages: Sequence[OutgoingMessage]) -> None:
        """Raise ``InvalidData`` naming the field if one request cannot carry ``messages``."""
        ...

    def open_transport(self) -> Transport:
        """A sending connection as this bot (credentials are read here, never earlier)."""
        ...
