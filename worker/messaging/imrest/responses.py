"""Reading IM REST replies (spec §1.3, §5), as pure functions over status, headers and bytes.

Every reply is meant to be HTTP 200 with ``{code, data, message}``; success is ``code == 200``
and anything else is classified by ``codes.classify_code``. HTTP statuses the seed does not
mention are read as the spec's §5.2 says: 401/403 stop the provider (as 10008), and so does 404
(a wrong base URL or path), 429 slows down, 5xx and a body that is not the JSON envelope are retried.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from worker.messaging.errors import (
    BadRequest,
    MessagingError,
    RequestTimeout,
    ServerError,
    TransientError,
    Unauthorized,
)
from worker.messaging.imrest.codes import PROVIDER, SUCCESS, classify_code

_SNIPPET_CHARS = 120


def read_envelope(status_code: int, headers: Mapping[str, str], body: bytes) -> dict[str, Any]:
    """The envelope of a successful reply (``code == 200``), or raise the classified error.

    The whole envelope is returned because ``/message/send`` may put ``msg_ids`` beside
    ``data`` (spec §2.6).
    """
    payload = _json_or_none(body)
    envelope = payload if isinstance(payload, dict) and _is_int(payload.get("code")) else None
    retry_after = _retry_after(headers)
    if not 200 <= status_code < 300:
        raise _http_error(status_code, envelope, body, retry_after)
    if envelope is None:
        raise ServerError(
            f"HTTP {status_code} without the IM REST envelope: {_snippet(body) or '(empty)'}",
            status=status_code,
            provider=PROVIDER,
        )
    code = envelope["code"]
    if code != SUCCESS:
        raise classify_code(
            code, _message(envelope), status=status_code, retry_after=retry_after, extra=None
        )
    return envelope


def _http_error(
    status_code: int, envelope: dict[str, Any] | None, body: bytes, retry_after: float | None
) -> MessagingError:
    said = _message(envelope) if envelope else _snippet(body)
    if status_code == 429:
        return classify_code(429, said, status=status_code, retry_after=retry_after)
    if envelope is not None and envelope["code"] != SUCCESS and status_code < 500:
        # A 4xx that still carries a business code (e.g. a 401 with 10008): the code says more.
        classified = classify_code(envelope["code"], said, status=status_code)
        if type(classified) is not TransientError:
            return classified
    common: dict[str, Any] = {"code": status_code, "status": status_code, "provider": PROVIDER}
    detail = f" (server: {said})" if said else ""
    if status_code in (401, 403):
        return Unauthorized(
            f"the server refused the app's credentials (HTTP {status_code}); check app_id and "
            f"the access token, then resume{detail}",
            **common,
        )
    if status_code == 404:
        # §5.2: fatal. A NotFound would read as "this recipient", and the pipeline would split
        # every batch and fail each recipient for what is one wrong setting of the bot.
        return Unauthorized(
            f"HTTP 404: the base URL or path is wrong; check the configured base URL, then "
            f"resume{detail}",
            reason="configuration",
            **common,
        )
    if status_code == 408:
        return RequestTimeout(
            f"HTTP 408: the server timed out reading the request{detail}", **common
        )
    if status_code >= 500:
        return ServerError(f"HTTP {status_code}{detail}", **common)
    if 400 <= status_code < 500:
        return BadRequest(f"HTTP {status_code}: the server refused the request{detail}", **common)
    return TransientError(f"unexpected HTTP {status_code}{detail}", **common)


def _message(envelope: Mapping[str, Any]) -> str | None:
    text = envelope.get("message")
    return str(text) if text not in (None, "") else None


def _retry_after(headers: Mapping[str, str]) -> float | None:
    raw = {name.lower(): value for name, value in headers.items()}.get("retry-after")
    try:
        return max(float(raw), 0.0) if raw else None
    except ValueError:
        return None  # an HTTP date; the pipeline's own backoff applies


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _json_or_none(body: bytes) -> Any:
    try:
        return json.loads(body.decode("utf-8")) if body.strip() else None
    except (UnicodeDecodeError, ValueError):
        return None


def _snippet(body: bytes) -> str:
    text = body.decode("utf-8", errors="replace").strip()
    return " ".join(text.split())[:_SNIPPET_CHARS]
