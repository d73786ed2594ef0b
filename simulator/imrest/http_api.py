"""The IM REST message API over HTTP (spec §2, checklist items 1–3, 15, 16).

Every operation goes through `_endpoint`: count the request, apply the optional rate limit
(HTTP 429), draw a fault, authenticate, run the operation, and answer the envelope
`{code, data, message}` with HTTP 200 whatever the business outcome (`message` null on
success). Faults that execute (`slow`, `drop`) run the operation first, then delay or drop the
answer; the others answer in its place and execute nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from simulator.imrest.auth import AUTH_HTTP_STATUS, Actor, authenticate
from simulator.imrest.bucket import retry_after_header
from simulator.imrest.conversations import (
    ack,
    delete_conversation,
    get_conversation,
    recall,
    unread,
)
from simulator.imrest.core import ImRestCore
from simulator.imrest.errors import RATE_LIMITED, ImRestError
from simulator.imrest.faults import NO_FAULT, Fault

CORE_KEY: web.AppKey[ImRestCore] = web.AppKey("imrest_core")
#: nginx's code for "closed the connection without a response", shown in the log only.
NO_RESPONSE = 444

#: What an operation returns: the envelope's `data`, and fields beside it (`msg_ids`).
Reply = tuple[Any, dict[str, Any]]
Operation = Callable[[ImRestCore, Actor, web.Request, bytes], Reply]


def envelope(
    code: int, data: Any, message: str | None, *, status: int = 200, **extra: Any
) -> web.Response:
    """The response shape of every endpoint (§1.3)."""
    return web.json_response(
        {"code": code, "data": data, "message": message, **extra}, status=status
    )


def bare_500() -> web.Response:
    """What a web front answers when the API behind it fails: HTML, not the envelope."""
    html = "<html><head><title>500 Internal Server Error</title></head><body>500 Internal Server Error</body></html>"
    return web.Response(status=500, text=html, content_type="text/html")


def _endpoint(
    name: str, operation: Operation
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def serve(request: web.Request) -> web.StreamResponse:
        core = request.app[CORE_KEY]
        body = await request.read()
        core.stats.request(name, len(body), core.clock())
        limited = _rate_limited(core, request)
        if limited is not None:
            return _log(core, request, limited, RATE_LIMITED)
        fault = core.faults.draw(name)
        if fault.kind == "server_error":
            return _log(core, request, bare_500(), None, fault)
        if fault.kind == "code":
            return _log(
                core, request, envelope(fault.code, None, "injected fault"), fault.code, fault
            )
        if fault.kind == "data_false":
            return _log(core, request, envelope(200, False, None), 200, fault)
        response, code = _run(core, request, body, operation)
        if fault.kind == "slow":
            await asyncio.sleep(fault.seconds)
        elif fault.kind == "drop":
            if fault.seconds:
                await asyncio.sleep(fault.seconds)
            if request.transport is not None:
                request.transport.abort()
            core.stats.answered(
                request.method, request.path, code=None, http_status=0, fault="drop"
            )
            return web.Response(status=NO_RESPONSE)
        return _log(core, request, response, code, fault)

    return serve


def _run(
    core: ImRestCore, request: web.Request, body: bytes, operation: Operation
) -> tuple[web.Response, int]:
    try:
        actor = authenticate(request.headers, core.apps, core.tokens)
        data, beside = operation(core, actor, request, body)
    except ImRestError as error:
        status = AUTH_HTTP_STATUS.get(error.code, 200) if core.config.auth_http_status else 200
        return envelope(error.code, None, error.message, status=status), error.code
    return envelope(200, data, None, **beside), 200


def _rate_limited(core: ImRestCore, request: web.Request) -> web.Response | None:
    if core.bucket is None:
        return None
    wait = core.bucket.take(request.headers.get("app_id", ""), core.clock())
    if wait <= 0:
        return None
    core.stats.rate_limited += 1
    response = envelope(RATE_LIMITED, None, "Too many requests", status=429)
    response.headers["Retry-After"] = retry_after_header(wait)
    return response


def _log(
    core: ImRestCore,
    request: web.Request,
    response: web.Response,
    code: int | None,
    fault: Fault = NO_FAULT,
) -> web.Response:
    core.stats.answered(
        request.method, request.path, code=code, http_status=response.status, fault=fault.kind
    )
    return response


# -- the seven operations ----------------------------------------------------------------------


def _send(endpoint: str) -> Operation:
    def run(core: ImRestCore, actor: Actor, request: web.Request, body: bytes) -> Reply:
        outcome = core.send(actor, endpoint, body)
        return True, ({"msg_ids": list(outcome.msg_ids)} if outcome.msg_ids is not None else {})

    return run


def _get_conversation(core: ImRestCore, actor: Actor, request: web.Request, body: bytes) -> Reply:
    return get_conversation(core, actor, request.query), {}


def _delete_conversation(
    core: ImRestCore, actor: Actor, request: web.Request, body: bytes
) -> Reply:
    return delete_conversation(core, actor, request.query), {}


def _ack(core: ImRestCore, actor: Actor, request: web.Request, body: bytes) -> Reply:
    return ack(core, actor, request.query), {}


def _recall(core: ImRestCore, actor: Actor, request: web.Request, body: bytes) -> Reply:
    return recall(core, actor, body), {}


def _unread(core: ImRestCore, actor: Actor, request: web.Request, body: bytes) -> Reply:
    return unread(core, actor), {}


#: path → {method: (operation name, operation)}; any other method on these paths is 405.
ROUTES: dict[str, dict[str, tuple[str, Operation]]] = {
    "/message/ack": {"GET": ("ack", _ack)},
    "/message/conversation": {
        "GET": ("conversation", _get_conversation),
        "DELETE": ("delete", _delete_conversation),
    },
    "/message/notify": {"POST": ("notify", _send("notify")), "PUT": ("notify", _send("notify"))},
    "/message/recall": {"POST": ("recall", _recall), "PUT": ("recall", _recall)},
    "/message/send": {"POST": ("send", _send("send")), "PUT": ("send", _send("send"))},
    "/message/unread": {"GET": ("unread", _unread)},
}


def add_routes(app: web.Application) -> None:
    for path, methods in ROUTES.items():
        for method, (name, operation) in methods.items():
            app.router.add_route(method, path, _endpoint(name, operation))


async def not_routed(request: web.Request) -> web.StreamResponse:
    """405 for another method on a known path, 404 (with the envelope) for any other path."""
    methods = ROUTES.get(request.path)
    if methods is not None:
        allowed = ", ".join(sorted(methods))
        return web.Response(status=405, text=f"405: use {allowed}", headers={"Allow": allowed})
    return envelope(404, None, f"no such path: {request.path}", status=404)


def add_not_routed(app: web.Application) -> None:
    """Register the catch-all; call it after every other route."""
    app.router.add_route("*", "/{tail:.*}", not_routed)
