"""HTTP response envelopes and the 401 diagnosis, as pure functions (spec §1.4, §4.1, §5).

Mixin answers application errors with HTTP 202 and ``{"error": {status, code, description,
extra}}``, success with ``{"data": ...}``; a 500 may come from the edge with a non-JSON body.
It echoes ``X-Request-Id``. On 401 its ``X-Server-Time`` (ns since epoch) tells a skewed local
clock, which Mixin also punishes with 401, from bad credentials.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from email.utils import parsedate_to_datetime
from typing import Any, Literal

from worker.messaging.errors import (
    CLOCK_SKEW_LIMIT_SECONDS,
    MessagingError,
    RateLimited,
    ServerError,
    Unauthorized,
    classify,
)

ProbeOutcome = Literal["rejected", "accepted", "unreachable"]
_SNIPPET_CHARS = 120


def parse_server_time(headers: Mapping[str, str]) -> float | None:
    """The server's clock in epoch seconds, from ``X-Server-Time`` (ns) or else ``Date``."""
    headers = _lowercase(headers)
    raw = headers.get("x-server-time")
    if raw:
        try:
            return int(raw.strip()) / 1e9
        except ValueError:
            pass
    date = headers.get("date")
    if date:
        try:
            return parsedate_to_datetime(date).timestamp()
        except (TypeError, ValueError):
            return None
    return None


def explain_unauthorized(
    *,
    server_time: float | None,
    local_time: float,
    probe: ProbeOutcome,
    request_id: str | None = None,
) -> Unauthorized:
    """Say in plain words why Mixin answered 401, from the clock check and the ``GET /me`` probe.

    ``probe`` is what ``GET /me`` did with the same key: "rejected" (401 again), "accepted", or
    "unreachable" (no answer; the credentials are then the likelier cause, and we say so).
    """
    common: dict[str, Any] = {"code": 401, "status": 202, "request_id": request_id}
    if server_time is not None:
        skew = server_time - local_time
        if abs(skew) >= CLOCK_SKEW_LIMIT_SECONDS:
            direction = "behind" if skew > 0 else "ahead of"
            return Unauthorized(
                f"Mixin refused the bot's token because this machine's clock is "
                f"{abs(skew):.0f} s {direction} the server's (Mixin tolerates "
                f"{CLOCK_SKEW_LIMIT_SECONDS:.0f} s). Fix the clock (enable NTP), then resume.",
                reason="clock skew",
                skew_seconds=skew,
                **common,
            )
    if probe == "accepted":
        detail = (
            "the websocket refused the bot's token although GET /me accepted the same key; "
            "the session may have been revoked or lacks a permission"
        )
    elif probe == "unreachable":
        detail = (
            "Mixin refused the bot's token and GET /me could not be reached to double-check; "
            "most likely the keystore is wrong"
        )
    else:
        detail = "Mixin refused the bot's credentials (401), and GET /me refused them too"
    return Unauthorized(
        f"{detail}. Check app_id, session_id and session_private_key in the keystore, "
        "or create a new session for the bot, then resume.",
        reason="invalid credentials",
        **common,
    )


def interpret_response(
    *,
    status_code: int,
    headers: Mapping[str, str],
    body: bytes,
    request_id: str,
    local_time: float,
) -> Any:
    """The ``data`` of a successful response, or raise the classified ``MessagingError``.

    A mismatched ``X-Request-Id`` echo means the reply belongs to another request (a confused
    proxy or connection), so it is refused as a ``ServerError`` and retried.
    """
    echoed = _lowercase(headers).get("x-request-id")
    if echoed and echoed != request_id:
        raise ServerError(
            f"response X-Request-Id {echoed} does not match the request", request_id=request_id
        )
    payload = _json_or_none(body)
    error = payload.get("error") if isinstance(payload, dict) else None
    if isinstance(error, dict):
        raise _error_from(error, status_code, headers, request_id, local_time)
    if status_code >= 500 or not 200 <= status_code < 300:
        raise _bare_status_error(status_code, headers, body, request_id, local_time)
    if payload is None:
        if body.strip():
            raise ServerError(
                f"HTTP {status_code} with a body that is not JSON: {_snippet(body)}",
                status=status_code,
                request_id=request_id,
            )
        return None
    return payload.get("data") if isinstance(payload, dict) else payload


def _error_from(
    error: Mapping[str, Any],
    status_code: int,
    headers: Mapping[str, str],
    request_id: str,
    local_time: float,
) -> MessagingError:
    code = error.get("code")
    status = error.get("status")
    if not isinstance(code, int):
        code = status_code
    if code == 401:
        # The 401 response carries X-Server-Time itself, so no probe is needed on HTTP.
        return explain_unauthorized(
            server_time=parse_server_time(headers),
            local_time=local_time,
            probe="rejected",
            request_id=request_id,
        )
    description = error.get("description") or error.get("desciption") or "no description"
    classified = classify(
        code,
        str(description),
        status=status if isinstance(status, int) else status_code,
        extra=error.get("extra"),
        request_id=request_id,
    )
    if isinstance(classified, RateLimited) and classified.retry_after is None:
        classified.retry_after = _retry_after_header(headers)
    return classified


def _bare_status_error(
    status_code: int, headers: Mapping[str, str], body: bytes, request_id: str, local_time: float
) -> MessagingError:
    """An HTTP error status without a Mixin error body (the edge, or an intermediary's 4xx)."""
    text = f"HTTP {status_code} without a Mixin error body: {_snippet(body) or '(empty)'}"
    if status_code == 401:
        return explain_unauthorized(
            server_time=parse_server_time(headers),
            local_time=local_time,
            probe="rejected",
            request_id=request_id,
        )
    if status_code >= 500:
        return ServerError(text, code=status_code, status=status_code, request_id=request_id)
    classified = classify(status_code, text, status=status_code, request_id=request_id)
    if isinstance(classified, RateLimited):
        classified.retry_after = _retry_after_header(headers)
    return classified


def _retry_after_header(headers: Mapping[str, str]) -> float | None:
    raw = _lowercase(headers).get("retry-after")
    try:
        return max(float(raw), 0.0) if raw else None
    except ValueError:
        return None


def _lowercase(headers: Mapping[str, str]) -> dict[str, str]:
    """Header names are case-insensitive; plain mappings (tests, proxies) may use any case."""
    return {name.lower(): value for name, value in headers.items()}


def _json_or_none(body: bytes) -> Any:
    try:
        return json.loads(body.decode("utf-8")) if body.strip() else None
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None


def _snippet(body: bytes) -> str:
    text = body.decode("utf-8", errors="replace").strip()
    return " ".join(text.split())[:_SNIPPET_CHARS]
