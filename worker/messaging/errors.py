"""The one error tree of blazecast's messaging layer.

Every failure that a transport reports is one of these classes, decided once, here, from the
Mixin error code (``specs/mixin-protocol.md`` §5.2). Callers branch on the class, never on codes::

    MessagingError                  .code .description .status .request_id .extra
    ├── TransientError              retry later with backoff (the pipeline bounds the attempts)
    │   ├── ConnectionLost          socket refused, reset or closed; nothing was answered
    │   ├── RequestTimeout          the request went out but no reply came in time
    │   ├── RateLimited             429: over the bot's quota (.retry_after when the server says)
    │   └── ServerError             500, 7000, 7001, any other 5xx, or a non-JSON edge error
    └── PermanentError              retrying the same request cannot succeed
        ├── Unauthorized            401: .reason says why ("invalid credentials", "clock skew",
        │                           and for IM REST "licence", "no permission", "configuration")
        ├── BatchRefused            the whole request was declined for no one recipient (IM REST
        │                           code 200 with data false): fail the batch, do not split it
        ├── Forbidden               403: not a participant, bot blocked, category not allowed
        ├── InvalidData             10002: a field is invalid (.extra names it)
        ├── BadRequest              400: the body could not be parsed
        └── NotFound                404: unknown endpoint or conversation

The IM REST provider's codes (``specs/im-rest-protocol.md`` §5) are classified into the same
classes by ``worker.messaging.imrest.codes``; its errors carry ``provider="IM REST"``.

Unknown codes (and 20140, "conversation checksum invalid") are plain ``TransientError``: the
pipeline retries them a bounded number of times, which is the safe default for a code we have
never seen. Nothing here holds key material: descriptions come from the server or from us.
"""

from __future__ import annotations

from typing import Any, Literal

UnauthorizedReason = Literal[
    "invalid credentials", "clock skew", "licence", "no permission", "configuration"
]

#: A device clock more than this far from the server's makes Mixin answer 401 (spec §1.4).
CLOCK_SKEW_LIMIT_SECONDS = 300.0


class MessagingError(Exception):
    """Base of every error a transport raises; keeps what Mixin said about it."""

    def __init__(
        self,
        description: str,
        *,
        code: int | None = None,
        status: int | None = None,
        request_id: str | None = None,
        extra: Any = None,
        provider: str = "Mixin",
    ) -> None:
        super().__init__(description)
        self.description = description
        self.provider = provider  # whose code this is, so a message never blames the wrong API
        self.code = code
        self.status = status
        self.request_id = request_id
        self.extra = extra

    @property
    def blamed_message_id(self) -> str | None:
        """The ``message_id`` the server blamed in ``extra``, when it named one.

        Mixin documents no per-message result, so callers must not rely on it: splitting the
        batch finds the culprit either way, this only makes it faster when present.
        """
        if isinstance(self.extra, dict):
            value = self.extra.get("message_id")
            if isinstance(value, str) and value:
                return value
        return None

    def __str__(self) -> str:
        parts = []
        if self.code is not None:
            parts.append(f"{self.provider} error {self.code}")
        # Mixin answers errors with HTTP 202 and "status": 202 beside the code (IM REST with 200):
        # a 2xx status, or one equal to the code, says nothing, and "403 (status 202)" misleads.
        if self.status is not None and not 200 <= self.status < 300 and self.status != self.code:
            parts.append(f"(status {self.status})")
        head = " ".join(parts)
        text = f"{head}: {self.description}" if head else self.description
        if self.extra not in (None, "", {}):
            text += f" (details: {self.extra})"
        if self.request_id:
            text += f" [request {self.request_id}]"
        return text

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, description={self.description!r})"


class TransientError(MessagingError):
    """The request may succeed if sent again later, with the same message ids."""


class ConnectionLost(TransientError):
    """The connection could not be made or broke before the reply arrived."""


class RequestTimeout(TransientError):
    """The request was sent but its reply did not come within the timeout.

    The provider may or may not have accepted it; a retry with the same message ids is safe
    because Mixin deduplicates by ``message_id``.
    """


class RateLimited(TransientError):
    """429: the bot is over its quota; slow down before retrying."""

    def __init__(self, description: str, *, retry_after: float | None = None, **kwargs: Any):
        super().__init__(description, **kwargs)
        self.retry_after = retry_after


class ServerError(TransientError):
    """A server-side failure (500, 7000, 7001, other 5xx, or a bare edge 500)."""


class PermanentError(MessagingError):
    """Retrying the same request cannot succeed."""


class Unauthorized(PermanentError):
    """401: the bot must stop sending until an operator fixes the cause.

    ``reason`` says which cause, in plain words: ``"clock skew"`` when the server's clock differs
    from ours by more than five minutes (``skew_seconds`` = server minus local), otherwise
    ``"invalid credentials"``; IM REST adds ``"licence"`` (3xxxx), ``"no permission"`` (10010)
    and ``"configuration"`` (no token, unknown app, wrong base URL).
    """

    def __init__(
        self,
        description: str,
        *,
        reason: UnauthorizedReason = "invalid credentials",
        skew_seconds: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(description, **kwargs)
        self.reason: UnauthorizedReason = reason
        self.skew_seconds = skew_seconds


class BatchRefused(PermanentError):
    """The provider declined the request as a whole without blaming any recipient.

    Splitting it would only repeat the refusal once per recipient: the batch fails as a whole,
    with the provider's answer as the reason (IM REST: code 200 with ``data`` false, spec §4).
    """


class Forbidden(PermanentError):
    """403: this recipient cannot be messaged (not a participant, or blocked the bot)."""


class InvalidData(PermanentError):
    """10002: a field of the request is invalid; ``extra`` holds the server's details."""


class BadRequest(PermanentError):
    """400: the request body could not be parsed."""


class NotFound(PermanentError):
    """404: the endpoint or the conversation does not exist."""


_PERMANENT_BY_CODE: dict[int, type[PermanentError]] = {
    400: BadRequest,
    403: Forbidden,
    404: NotFound,
}

# 7000 "Blaze server error" and 7001 "The blaze operation timeout" are server-side (status 500).
_SERVER_CODES = frozenset({500, 7000, 7001})


def classify(
    code: int,
    description: str,
    status: int | None = None,
    extra: Any = None,
    request_id: str | None = None,
) -> MessagingError:
    """Turn a Mixin error object (``{status, code, description, extra}``) into its class.

    The result is returned, not raised, so callers can add context before raising it.
    """
    common: dict[str, Any] = {
        "code": code,
        "status": status,
        "request_id": request_id,
        "extra": extra,
    }
    if code == 401:
        return Unauthorized(description, **common)
    if code == 10002:
        return InvalidData(description, **common)
    if code == 429:
        return RateLimited(description, retry_after=_retry_after_from(extra), **common)
    if code in _SERVER_CODES or 500 <= code <= 599:
        return ServerError(description, **common)
    permanent = _PERMANENT_BY_CODE.get(code)
    if permanent is not None:
        return permanent(description, **common)
    return TransientError(description, **common)


def _retry_after_from(extra: Any) -> float | None:
    """Read a retry hint if the server put one in ``extra`` (Mixin documents none)."""
    if isinstance(extra, dict):
        value = extra.get("retry_after")
        if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
            return float(value)
    return None
