"""The `/_sim/` endpoints every fake has: stats, the fault plan, reset; and their error shape.

Each fake's `control` module adds these with its own app key and body reader, then its own
endpoints (per-message state, recipients, users, …). They answer plain JSON, not the simulated
protocol's envelope: they are for tests and operators on loopback.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

from aiohttp import web


class _Plan(Protocol):
    def to_dict(self) -> dict[str, Any]: ...


class _Injector(Protocol):
    @property
    def plan(self) -> _Plan: ...


class ControlledCore(Protocol):
    """What these endpoints need of a fake's core (its own fault vocabulary stays its own)."""

    @property
    def faults(self) -> _Injector: ...

    def snapshot(self) -> dict[str, Any]: ...

    def set_faults(self, raw: dict[str, Any]) -> dict[str, Any]: ...

    def reset(self) -> None: ...


Core = TypeVar("Core", bound=ControlledCore)
BodyReader = Callable[[web.Request], Awaitable[Any]]


async def read_json(request: web.Request, not_json: Callable[[], Any]) -> Any:
    """The body as JSON, `{}` when it is empty, else what `not_json()` returns (or raises)."""
    body = await request.read()
    if not body:
        return {}
    try:
        return json.loads(body)
    except (UnicodeDecodeError, ValueError):
        return not_json()


def json_error(status: int, message: str) -> web.Response:
    """`{"error": message}` with HTTP `status`."""
    return web.json_response({"error": message}, status=status)


def add_routes(app: web.Application, core_key: web.AppKey[Core], read_json: BodyReader) -> None:
    """`GET /_sim/stats`, `GET|POST /_sim/faults`, `POST /_sim/reset` on `app[core_key]`.

    `read_json` reads a body as the fake's other endpoints do (an empty body is `{}`).
    """

    async def get_stats(request: web.Request) -> web.Response:
        return web.json_response(request.app[core_key].snapshot())

    async def get_faults(request: web.Request) -> web.Response:
        return web.json_response(request.app[core_key].faults.plan.to_dict())

    async def post_faults(request: web.Request) -> web.Response:
        """Replace the fault plan; an empty body clears every fault."""
        raw = await read_json(request)
        if not isinstance(raw, dict):
            return json_error(400, "faults must be a JSON object")
        try:
            return web.json_response(request.app[core_key].set_faults(raw))
        except ValueError as error:
            return json_error(400, str(error))

    async def post_reset(request: web.Request) -> web.Response:
        request.app[core_key].reset()
        return web.json_response({"reset": True})

    app.router.add_get("/_sim/stats", get_stats)
    app.router.add_get("/_sim/faults", get_faults)
    app.router.add_post("/_sim/faults", post_faults)
    app.router.add_post("/_sim/reset", post_reset)
