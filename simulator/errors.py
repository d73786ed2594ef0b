"""The Mixin error object the simulator answers with (spec §5).

`ApiError` is raised anywhere below the transports and turned into the documented shape by
them: `{"status", "code", "description", "extra"?}`, inside a websocket reply frame or an HTTP
body `{"error": …}`. `status` is 202 for application errors and 500 for server errors, as in the
error table of §5.2; the HTTP status line carries the same number ("only 20x and 500").
"""

from __future__ import annotations

from typing import Any

# code -> (status, description), from the error table of spec §5.2.
ERROR_CATALOGUE: dict[int, tuple[int, str]] = {
    400: (202, "The request body can't be parsed as valid data."),
    401: (202, "Unauthorized, maybe invalid token."),
    403: (202, "Forbidden."),
    404: (202, "The endpoint is not found."),
    429: (202, "Too Many Requests."),
    10002: (202, "The request data has invalid field."),
    20140: (202, "Conversation members checksum invalid."),
    500: (500, "Internal Server Error."),
    7000: (500, "Blaze server error."),
    7001: (500, "The blaze operation timeout."),
}


class ApiError(Exception):
    """A Mixin application error; `extra` says which field or recipient caused it."""

    def __init__(self, code: int, extra: dict[str, Any] | None = None) -> None:
        status, description = ERROR_CATALOGUE.get(code, (202, "Simulated error."))
        super().__init__(f"{code} {description}")
        self.code = code
        self.status = status
        self.description = description
        self.extra = extra

    def body(self) -> dict[str, Any]:
        """The error object exactly as it goes on the wire."""
        error: dict[str, Any] = {
            "status": self.status,
            "code": self.code,
            "description": self.description,
        }
        if self.extra is not None:
            error["extra"] = self.extra
        return error


def invalid_field(field: str, reason: str, **context: Any) -> ApiError:
    """10002 naming the offending field (§5.1: "details in extra")."""
    return ApiError(10002, {"field": field, "reason": reason, **context})


def forbidden(reason: str, **context: Any) -> ApiError:
    """403: the recipient is unknown, not in the conversation, or blocked the bot."""
    return ApiError(403, {"reason": reason, **context})
