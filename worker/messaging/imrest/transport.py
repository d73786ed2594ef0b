"""``ImRestTransport``: the IM REST message API over one pooled ``requests`` session.

Three operations blazecast needs (spec §3): send one batch to many targets, read the status of
its messages by paging conversations, and recall a message. Requests carry ``app_id`` and
``access-token``; polling and recall also carry ``user_id`` = the sending account, to act as it
(§1.2). The transport does not retry and does not pace: the pipeline owns retries (with the
same ``transaction_id``, within ``ImRestSettings.retry_horizon_seconds``) and the token bucket,
which polling shares because each poll is one request per recipient.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import requests

from worker.messaging.errors import (
    BatchRefused,
    ConnectionLost,
    PermanentError,
    RequestTimeout,
    ServerError,
)
from worker.messaging.imrest.codes import PROVIDER
from worker.messaging.imrest.marker import Marker
from worker.messaging.imrest.responses import read_envelope
from worker.messaging.imrest.send_request import TargetType, build_send_request
from worker.messaging.imrest.settings import ImRestSettings
from worker.messaging.imrest.status import ConversationWalk, StatusRow
from worker.messaging.provider import OutOfTokens

log = logging.getLogger(__name__)

#: How much of an unexpected ``data`` an error quotes.
SHOWN_DATA_CHARS = 80


@dataclass(frozen=True, slots=True)
class SendResult:
    """The server accepted the batch: every target is now SENT.

    ``msg_ids`` is filled only when the server returned one id per target, which the ``ZH:``
    edition documents for single-target sends; otherwise ``marker`` finds the messages when
    their conversations are polled.
    """

    announcement_id: str
    transaction_id: int
    targets: tuple[int, ...]
    msg_ids: tuple[int, ...] | None

    @property
    def marker(self) -> Marker:
        """The ``ext`` marker of exactly this request's messages."""
        return Marker(self.announcement_id, self.transaction_id)


class ImRestTransport:
    """``POST /message/send|notify``, ``GET /message/conversation``, ``POST /message/recall``."""

    name = "imrest"

    def __init__(self, settings: ImRestSettings, *, pool_size: int = 10) -> None:
        self.settings = settings
        self._base = settings.base_url.rstrip("/")
        self._session = requests.Session()
        self._session.trust_env = False  # the API host is configured explicitly; no env proxies
        adapter = requests.adapters.HTTPAdapter(pool_connections=1, pool_maxsize=pool_size)
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)

    def __repr__(self) -> str:
        return f"ImRestTransport(base_url={self._base!r}, app_id={self.settings.app_id!r})"

    def send_batch(
        self,
        announcement_id: str,
        targets: Iterable[int],
        content_type: int,
        content: str,
        attachment: str | Mapping[str, Any] | None = None,
        *,
        target_type: int = TargetType.USER,
        endpoint: str | None = None,
    ) -> SendResult:
        """Send one batch as one request; returns once the server executed it.

        Safe to call again with the same arguments within the retry horizon: the request
        carries the same ``transaction_id`` and the server does not execute it twice. Raises
        a ``MessagingError``: ``Forbidden`` for an unknown target (split the batch to find
        it), ``Unauthorized`` when the provider must stop, ``BatchRefused`` when the server
        declined the whole batch, ``TransientError`` to retry. ``endpoint`` (``send`` or
        ``notify``) defaults to the settings'.
        """
        settings = self.settings
        request = build_send_request(
            announcement_id=str(announcement_id),
            endpoint=endpoint or settings.endpoint,
            from_user_id=settings.from_user_id,
            targets=targets,
            content_type=content_type,
            content=content,
            attachment=attachment,
            target_type=target_type,
            max_targets=settings.batch_size,
        )
        envelope = self._call("POST", request.path, body=request.body)
        if envelope.get("data") is not True:
            # §4: code 200 with data false is a failure of the whole batch, not retried.
            shown = json.dumps(envelope.get("data"))
            if len(shown) > SHOWN_DATA_CHARS:  # the server's text goes into stored reasons
                shown = shown[:SHOWN_DATA_CHARS] + "…"
            raise BatchRefused(
                f"the server declined the batch without a reason (code 200, data "
                f"{shown}); transaction {request.transaction_id}",
                code=200,
                provider=PROVIDER,
                extra={"transaction_id": request.transaction_id},
            )
        return SendResult(
            announcement_id=str(announcement_id),
            transaction_id=request.transaction_id,
            targets=request.targets,
            msg_ids=_msg_ids(envelope.get("msg_ids"), len(request.targets)),
        )

    def conversation_status(
        self,
        opposite_id: int,
        *,
        marker: Marker,
        since_ms: int,
        before_page: Callable[[], bool] | None = None,
    ) -> list[StatusRow]:
        """The status of blazecast's marked messages in the sender's chat with ``opposite_id``.

        Pages ``GET /message/conversation`` newest first (see ``status.ConversationWalk`` for
        when it stops); returns the matching messages, newest first, each once. ``since_ms``
        is the earliest message ``timestamp`` worth reading: the batch's first send, minus the
        clock slack the caller allows between this host and the server. ``before_page`` is
        called before every page (each is a request of the budget); when it answers False the
        walk stops with ``OutOfTokens``.
        """
        walk = ConversationWalk(
            sender_id=self.settings.from_user_id,
            opposite_id=opposite_id,
            marker=marker,
            since_ms=since_ms,
        )
        cursor: int | None = walk.first_cursor()
        while cursor is not None:
            if before_page is not None and not before_page():
                raise OutOfTokens(f"no request budget left to read page {walk.pages + 1}")
            params = {
                "limit": self.settings.page_limit,
                "msg_id_start": cursor,
                "opposite_id": opposite_id,
            }
            envelope = self._call("GET", "/message/conversation", params=params, as_sender=True)
            cursor = walk.feed(envelope.get("data"), cursor)
        return walk.rows

    def recall(self, conversation_id: int, msg_id: int) -> None:
        """Recall (revoke) one message the sending account sent; repeating it is harmless.

        ``conversation_id`` is the recipient's user id (or the group id) of the message.
        """
        body = json.dumps({"conversation_id": conversation_id, "msg_id": msg_id}).encode()
        envelope = self._call("POST", "/message/recall", body=body, as_sender=True)
        if envelope.get("data") is False:
            raise PermanentError(
                f"the server declined to recall message {msg_id}", code=200, provider=PROVIDER
            )

    def close(self) -> None:
        """Close the pooled connections."""
        self._session.close()

    def _call(
        self,
        method: str,
        path: str,
        *,
        body: bytes | None = None,
        params: Mapping[str, int] | None = None,
        as_sender: bool = False,
    ) -> dict[str, Any]:
        headers = {"app_id": self.settings.app_id, "access-token": self.settings.access_token}
        if body is not None:
            headers["Content-Type"] = "application/json"
        if as_sender:
            headers["user_id"] = str(self.settings.from_user_id)
        common: dict[str, Any] = {"provider": PROVIDER}
        try:
            response = self._session.request(
                method,
                self._base + path,
                data=body,
                params=params,
                headers=headers,
                timeout=self.settings.timeout,
            )
        except requests.ConnectTimeout:
            raise ConnectionLost(
                f"cannot connect to {self._base} within {self.settings.timeout:g} s", **common
            ) from None
        except requests.Timeout:
            raise RequestTimeout(
                f"no response to {method} {path} within {self.settings.timeout:g} s", **common
            ) from None
        except requests.ConnectionError as exc:
            raise ConnectionLost(
                f"{method} {path}: connection failed ({type(exc).__name__})", **common
            ) from None
        except requests.RequestException as exc:
            raise ServerError(f"{method} {path}: {type(exc).__name__}", **common) from None
        with response:
            log.debug("%s %s -> HTTP %s", method, path, response.status_code)
            return read_envelope(response.status_code, response.headers, response.content)


def _msg_ids(raw: object, targets: int) -> tuple[int, ...] | None:
    """``msg_ids`` when it names one id per target; anything else is ignored, not trusted."""
    if not isinstance(raw, list) or len(raw) != targets:
        return None
    if not all(isinstance(item, int) and not isinstance(item, bool) for item in raw):
        return None
    return tuple(raw)
