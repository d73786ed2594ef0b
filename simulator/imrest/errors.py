"""`ImRestError`: a business outcome other than success, answered in the envelope.

The codes are those of the `QS:` appendix that specs/im-rest-protocol.md §5.1 lists; which code
fits which failure is the spec's [ASSUMPTION] (§6, items 3–5, 13).
"""

from __future__ import annotations

USER_NOT_FOUND = 10000
INVALID_PARAMETER = 10002
MISSING_TOKEN = 10003
INVALID_TOKEN = 10008
NO_PERMISSION = 10010
GROUP_NOT_FOUND = 20001
NOT_GROUP_MEMBER = 20002
UNKNOWN_APP = 40000
RATE_LIMITED = 429

DEFAULT_MESSAGES = {
    USER_NOT_FOUND: "User does not exist",
    INVALID_PARAMETER: "Incorrect request parameter",
    MISSING_TOKEN: "Missing access-token parameter in header",
    INVALID_TOKEN: "Invalid access-token in header",
    NO_PERMISSION: "User has no permission",
    GROUP_NOT_FOUND: "Group does not exist",
    NOT_GROUP_MEMBER: "The user is not a group member",
    UNKNOWN_APP: "app_id does not exist",
    RATE_LIMITED: "Too many requests",
}


class ImRestError(Exception):
    """Raised by the simulator's operations; the HTTP layer turns it into the envelope."""

    def __init__(self, code: int, detail: str | None = None) -> None:
        self.code = code
        base = DEFAULT_MESSAGES.get(code, "Error")
        self.message = f"{base}: {detail}" if detail else base
        super().__init__(self.message)


def invalid(field: str, reason: str) -> ImRestError:
    """10002 naming the offending field."""
    return ImRestError(INVALID_PARAMETER, f"{field} {reason}")
