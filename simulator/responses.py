"""HTTP response shapes shared by the API and the websocket upgrade (spec §4.1, item 16).

Application errors are HTTP 202 (500 for server-class codes) with `{"error": {…}}`; every
response echoes `X-Request-Id` and carries `X-Server-Time` in nanoseconds, which clients read to
tell clock skew from bad credentials after a 401.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from aiohttp import web

from simulator.errors import ApiError

if TYPE_CHECKING:
    from simulator.core import SimulatorCore

CORE_KEY: web.AppKey[SimulatorCore] = web.AppKey("simulator_core")
URLS_KEY: web.AppKey[dict[str, str]] = web.AppKey("simulator_urls")


def api_headers(request: web.Request) -> dict[str, str]:
    headers = {"X-Server-Time": str(time.time_ns())}
    request_id = request.headers.get("X-Request-Id")
    if request_id:
        headers["X-Request-Id"] = request_id
    return headers


def api_response(request: web.Request, body: Any) -> web.Response:
    """A successful API response: the body as given (`{"data": …}` or `{}`)."""
    return web.json_response(body, headers=api_headers(request))


def error_response(
    error: ApiError, request: web.Request, *, http_status: int | None = None
) -> web.Response:
    """`{"error": {status, code, description, extra?}}` with HTTP 202, or 500 for server codes."""
    status = http_status if http_status is not None else (500 if error.status == 500 else 202)
    return web.json_response({"error": error.body()}, status=status, headers=api_headers(request))


def bare_500() -> web.Response:
    """What a web front answers when the API behind it fails: HTML, not the JSON envelope."""
    html = "<html><head><title>500 Internal Server Error</title></head><body>500 Internal Server Error</body></html>"
    return web.Response(status=500, text=html, content_type="text/html")


def service_info(request: web.Request) -> dict[str, Any]:
    """What `GET /` without an upgrade and `GET /_sim/info` describe."""
    core = request.app[CORE_KEY]
    urls = request.app[URLS_KEY]
    info: dict[str, Any] = {"service": "blazecast Mixin simulator", **urls}
    info.update(
        bots=[
            {
                "bot_id": identity.bot_id,
                "session_id": identity.session_id,
                "session_public_key": identity.session_public_b64url,
            }
            for identity in core.identities.values()
        ],
        users=len(core.population.users),
    )
    return info
