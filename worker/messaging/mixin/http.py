"""``HttpTransport``: the Mixin HTTP API over one pooled ``requests`` session (spec §4).

Every request gets a fresh JWT signed over its method, path with query and exact body bytes,
and an ``X-Request-Id`` that is also the token's ``jti`` and must come back in the response.
The transport does not retry: the pipeline owns retries and the token bucket.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlsplit

import requests

from worker.messaging.errors import (
    ConnectionLost,
    MessagingError,
    RequestTimeout,
    ServerError,
    Unauthorized,
)
from worker.messaging.mixin.batching import check_batch
from worker.messaging.mixin.ids import unique_conversation_id
from worker.messaging.mixin.keystore import Keystore
from worker.messaging.mixin.responses import (
    ProbeOutcome,
    explain_unauthorized,
    interpret_response,
    parse_server_time,
)
from worker.messaging.mixin.tokens import sign_request_token
from worker.messaging.transport import ACK_STATUSES, OutgoingMessage

log = logging.getLogger(__name__)

#: Entries per ``POST /acknowledgements`` ("the max array size is 100", spec §4.3).
MAX_ACKS_PER_REQUEST = 100


class HttpTransport:
    """``POST /messages``, ``POST /acknowledgements``, ``POST /conversations``, ``GET /me``."""

    name = "http"

    def __init__(
        self,
        keystore: Keystore,
        api_url: str,
        timeout: float = 10.0,
        *,
        clock: Callable[[], float] = time.time,
        pool_size: int = 10,
    ) -> None:
        self._keystore = keystore
        self._base = api_url.rstrip("/")
        # The token signs the path the server sees, so a base URL with a path prefix counts.
        self._path_prefix = urlsplit(self._base).path
        self._timeout = timeout
        self._clock = clock
        self._session = requests.Session()
        self._session.trust_env = False  # the Mixin host is given explicitly; no env proxies
        adapter = requests.adapters.HTTPAdapter(pool_connections=1, pool_maxsize=pool_size)
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)

    def __repr__(self) -> str:
        return f"HttpTransport(api_url={self._base!r}, app_id={self._keystore.app_id!r})"

    def send_messages(self, messages: Sequence[OutgoingMessage]) -> None:
        """``POST /messages`` with the batch as a JSON array; all or nothing (spec §4.2)."""
        check_batch(messages)
        self.request("POST", "/messages", [message.to_wire() for message in messages])

    def acknowledge(self, message_ids: Sequence[str], status: str = "READ") -> None:
        """Acknowledge received user messages, in requests of at most 100 (spec §4.3)."""
        if status not in ACK_STATUSES:
            raise ValueError(f"status must be one of {', '.join(ACK_STATUSES)}, not {status!r}")
        for start in range(0, len(message_ids), MAX_ACKS_PER_REQUEST):
            chunk = message_ids[start : start + MAX_ACKS_PER_REQUEST]
            body = [{"message_id": message_id, "status": status} for message_id in chunk]
            self.request("POST", "/acknowledgements", body)

    def create_conversation(self, user_id: str) -> str:
        """Create (idempotently) the CONTACT conversation with ``user_id``; returns its id."""
        conversation_id = unique_conversation_id(self._keystore.app_id, user_id)
        body = {
            "category": "CONTACT",
            "conversation_id": conversation_id,
            "participants": [{"user_id": user_id}],
            "name": "",
            "announcement": "",
            "random_id": "",
        }
        data = self.request("POST", "/conversations", body)
        returned = data.get("conversation_id") if isinstance(data, dict) else None
        return returned if isinstance(returned, str) and returned else conversation_id

    def me(self) -> dict[str, Any]:
        """``GET /me``: the bot's own user record."""
        data = self.request("GET", "/me")
        return data if isinstance(data, dict) else {}

    def probe_unauthorized(self, request_id: str | None = None) -> Unauthorized:
        """After a websocket 401: ask ``GET /me`` once and explain the 401 in plain words."""
        try:
            response, probe_id = self._send("GET", "/me", None)
        except (ConnectionLost, RequestTimeout):
            return explain_unauthorized(
                server_time=None,
                local_time=self._clock(),
                probe="unreachable",
                request_id=request_id,
            )
        probe: ProbeOutcome
        with response:
            try:
                interpret_response(
                    status_code=response.status_code,
                    headers=response.headers,
                    body=response.content,
                    request_id=probe_id,
                    local_time=self._clock(),
                )
                probe = "accepted"
            except Unauthorized:
                probe = "rejected"
            except MessagingError:
                probe = "unreachable"  # a 5xx says nothing about the key
            return explain_unauthorized(
                server_time=parse_server_time(response.headers),
                local_time=self._clock(),
                probe=probe,
                request_id=request_id,
            )

    def request(self, method: str, path: str, body: Any = None) -> Any:
        """One signed request; returns the envelope's ``data`` or raises a ``MessagingError``."""
        response, request_id = self._send(method, path, body)
        with response:
            return interpret_response(
                status_code=response.status_code,
                headers=response.headers,
                body=response.content,
                request_id=request_id,
                local_time=self._clock(),
            )

    def _send(self, method: str, path: str, body: Any) -> tuple[requests.Response, str]:
        raw = b"" if body is None else json.dumps(body, separators=(",", ":")).encode()
        request_id = str(uuid.uuid4())
        token = sign_request_token(
            self._keystore, method, self._path_prefix + path, raw, now=self._clock(), jti=request_id
        )
        headers = {
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/json",
            "X-Request-Id": request_id,
        }
        try:
            response = self._session.request(
                method,
                self._base + path,
                data=raw if body is not None else None,
                headers=headers,
                timeout=self._timeout,
            )
        except requests.ConnectTimeout:
            raise ConnectionLost(
                f"cannot connect to {self._base} within {self._timeout:g} s", request_id=request_id
            ) from None
        except requests.Timeout:
            raise RequestTimeout(
                f"no response to {method} {path} within {self._timeout:g} s", request_id=request_id
            ) from None
        except requests.ConnectionError as exc:
            raise ConnectionLost(
                f"{method} {path}: connection failed ({type(exc).__name__})", request_id=request_id
            ) from None
        except requests.RequestException as exc:
            raise ServerError(
                f"{method} {path}: {type(exc).__name__}", request_id=request_id
            ) from None
        log.debug("%s %s -> %s [request %s]", method, path, response.status_code, request_id)
        return response, request_id

    def close(self) -> None:
        """Close the pooled connections."""
        self._session.close()
