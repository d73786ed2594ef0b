"""Who is calling: `app_id` + `access-token`, and whom an admin acts as (spec §1.2, §6 item 3).

- a missing `app_id`, or one the server does not know → 40000;
- a missing `access-token` → 10003;
- an unknown token, or the token of another app → 10008;
- `user_id` / `group_id` headers with anything but an admin token → 10010.

The acting user is the `user_id` header for an admin token (the `ZH:` reading, §1.2), or the
token's own user for a user token. Tokens are opaque strings; they are never logged.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from simulator.imrest.errors import (
    INVALID_TOKEN,
    MISSING_TOKEN,
    NO_PERMISSION,
    UNKNOWN_APP,
    ImRestError,
    invalid,
)

#: Auth failures and the HTTP status they get when `auth_http_status` is on.
AUTH_HTTP_STATUS = {UNKNOWN_APP: 403, MISSING_TOKEN: 401, INVALID_TOKEN: 401}


@dataclass(frozen=True)
class TokenGrant:
    """What a token is: the app it belongs to, and its user (None for an admin token)."""

    app_id: str
    user_id: int | None


@dataclass(frozen=True)
class Actor:
    """An authenticated caller."""

    app_id: str
    admin: bool
    user_id: int | None  # whom the request acts as, if anyone
    group_id: int | None


def authenticate(
    headers: Mapping[str, str], apps: frozenset[str], tokens: Mapping[str, TokenGrant]
) -> Actor:
    """The caller, or raise the `ImRestError` the checklist assigns to the failure."""
    app_id = headers.get("app_id", "")
    if not app_id or app_id not in apps:
        raise ImRestError(UNKNOWN_APP, "unknown app_id" if app_id else "no app_id header")
    token = headers.get("access-token", "")
    if not token:
        raise ImRestError(MISSING_TOKEN)
    grant = tokens.get(token)
    if grant is None or grant.app_id != app_id:
        raise ImRestError(INVALID_TOKEN)
    user_header = _id_header(headers, "user_id")
    group_header = _id_header(headers, "group_id")
    admin = grant.user_id is None
    if not admin and (user_header is not None or group_header is not None):
        raise ImRestError(NO_PERMISSION, "user_id and group_id headers need an admin token")
    acting = user_header if admin else grant.user_id
    return Actor(app_id=app_id, admin=admin, user_id=acting, group_id=group_header)


def _id_header(headers: Mapping[str, str], name: str) -> int | None:
    raw = headers.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = int(raw.strip())
    except ValueError:
        raise invalid(f"header {name}", "must be an int64") from None
    if not 0 < value < 2**63:
        raise invalid(f"header {name}", "must be a positive int64")
    return value
