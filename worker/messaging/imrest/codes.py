"""IM REST ``code`` values classified into blazecast's one error tree (spec §5.1).

Business errors come back as HTTP 200 with a ``code`` other than 200, so this table, not the
HTTP status, decides what the pipeline does. The classes mean what they mean for Mixin:

- ``Unauthorized``: configuration is wrong (token, app, licence, permission); the provider must
  stop and an operator must act, never a retry loop (10003, 10008, 10010, every licence code
  3xxxx, 40000, and HTTP 401/403/404 in ``responses``);
- ``Forbidden``: one target cannot be messaged (10000 unknown user, 20001 unknown group, 20002
  sender not in the group); a multi-target batch is split to find it;
- ``InvalidData``: 10002, the request itself is wrong;
- ``ServerError`` / ``RateLimited``: 20000, 5xx, 429, retried with the same ``transaction_id``;
- anything else: a plain ``TransientError``, retried at most ``unknown_code_retries`` times
  (``retries``).

10010 ("User has no permission") is classified as ``Unauthorized`` although the spec would stop
only after repeats: a per-recipient reading would make the pipeline split the batch and mark
every recipient failed for what is a property of the sending account.
"""

from __future__ import annotations

from typing import Any

from worker.messaging.errors import (
    Forbidden,
    InvalidData,
    MessagingError,
    RateLimited,
    ServerError,
    TransientError,
    Unauthorized,
    UnauthorizedReason,
)

PROVIDER = "IM REST"
SUCCESS = 200

USER_NOT_FOUND = 10000
INVALID_PARAMETER = 10002
SERVER_DATABASE_ERROR = 20000
GROUP_NOT_FOUND = 20001
NOT_GROUP_MEMBER = 20002

#: Why each code that stops the provider stops it (``Unauthorized.reason``).
FATAL_REASONS: dict[int, UnauthorizedReason] = {
    10003: "configuration",
    10008: "invalid credentials",
    10010: "no permission",
    30021: "licence",
    30022: "licence",
    30023: "licence",
    40000: "configuration",
}

#: What an operator must fix, in plain words, for each code that stops the provider.
FATAL_CODES: dict[int, str] = {
    10003: "the request carried no access-token; configure the app's access token",
    10008: "the server rejected the access token; issue a new admin token in the console's "
    "Token Management page and configure it",
    10010: "the access token has no permission for this operation; use an admin token of this "
    "app, and check that the sending account (from_user_id) is right",
    30021: "the app's licence is invalid; check the licence in the console",
    30022: "the app's licence has expired; renew it in the console",
    30023: "the app's licence limit is exceeded; raise the limit in the console",
    40000: "the server does not know this app_id; check the configured app_id and base URL",
}

#: §5.1: 3xxxx is the licence family; codes beyond the three documented ones stop the bot too.
LICENCE_CODES = range(30000, 40000)

_PER_TARGET: dict[int, str] = {
    USER_NOT_FOUND: "a target user does not exist",
    GROUP_NOT_FOUND: "a target group does not exist",
    NOT_GROUP_MEMBER: "the sending account is not a member of the target group",
}


def classify_code(
    code: int,
    message: str | None,
    *,
    status: int | None = None,
    retry_after: float | None = None,
    extra: Any = None,
) -> MessagingError:
    """The error for a reply whose ``code`` is not 200; returned, not raised.

    ``message`` is the server's own text, kept in the description after ours.
    """
    said = f" (server: {message})" if message else ""
    common: dict[str, Any] = {"code": code, "status": status, "extra": extra, "provider": PROVIDER}
    if code in FATAL_CODES:
        return Unauthorized(
            f"{FATAL_CODES[code]}, then resume{said}", reason=FATAL_REASONS[code], **common
        )
    if code in LICENCE_CODES:
        return Unauthorized(
            f"the server refused the app's licence; check the licence in the console, then "
            f"resume{said}",
            reason="licence",
            **common,
        )
    if code in _PER_TARGET:
        return Forbidden(f"{_PER_TARGET[code]}{said}", **common)
    if code == INVALID_PARAMETER:
        return InvalidData(f"the server refused a request parameter{said}", **common)
    if code == 429:
        return RateLimited(f"over the server's rate limit{said}", retry_after=retry_after, **common)
    if code == SERVER_DATABASE_ERROR or 500 <= code <= 599:
        return ServerError(f"server-side failure{said}", **common)
    return TransientError(f"unknown IM REST code{said}", **common)
