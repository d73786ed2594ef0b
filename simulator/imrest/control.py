"""The simulator's own endpoints under `/_sim/`: stats, requests, faults, reset, test hooks.

No authentication and plain JSON (not the envelope): these are for tests and operators on
loopback, never part of the simulated API. Stats, faults and reset are the ones both fakes have
(`simulator.control_routes`); a body that is not JSON reads as None, refused by each endpoint.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from simulator import control_routes
from simulator.control_routes import json_error, read_json
from simulator.imrest.http_api import CORE_KEY


async def _json(request: web.Request) -> Any:
    """The body as JSON; a body that is not JSON reads as None, which every endpoint refuses."""
    return await read_json(request, lambda: None)


def _int(raw: str) -> int | None:
    try:
        return int(raw)
    except ValueError:
        return None


async def get_requests(request: web.Request) -> web.Response:
    """The newest requests, oldest first: method, path, code, HTTP status, fault."""
    return web.json_response(list(request.app[CORE_KEY].stats.log))


async def get_message(request: web.Request) -> web.Response:
    msg_id = _int(request.match_info["msg_id"])
    state = None if msg_id is None else request.app[CORE_KEY].message_state(msg_id)
    if state is None:
        return json_error(404, "no message with this msg_id")
    return web.json_response(state)


async def post_message_status(request: web.Request) -> web.Response:
    """Test hook: `{"status": "DELIVERED"}` moves a message forward (never back)."""
    msg_id = _int(request.match_info["msg_id"])
    raw = await _json(request)
    if msg_id is None or not isinstance(raw, dict) or not isinstance(raw.get("status"), str):
        return json_error(400, 'the body must be {"status": "UNREAD|DELIVERED|READ"}')
    try:
        return web.json_response(request.app[CORE_KEY].set_status(msg_id, raw["status"]))
    except ValueError as error:
        return json_error(400, str(error))


async def post_recipient(request: web.Request) -> web.Response:
    """`{"online": false}`, `{"delivery_delay": 1.0, "read_delay": null}`: change a recipient.

    New probabilities apply to the messages sent from now on: a message's fate is drawn once.
    """
    user_id = _int(request.match_info["user_id"])
    raw = await _json(request)
    known = {
        "online",
        "delivery_delay",
        "read_delay",
        "delivery_probability",
        "read_probability",
        "spread",
    }
    if user_id is None or not isinstance(raw, dict) or not set(raw) <= known:
        return json_error(400, f"the body may set {', '.join(sorted(known))}")
    try:
        return web.json_response(request.app[CORE_KEY].set_recipient(user_id, **raw))
    except (TypeError, ValueError) as error:
        return json_error(400, str(error))


def add_routes(app: web.Application) -> None:
    control_routes.add_routes(app, CORE_KEY, _json)
    app.router.add_get("/_sim/requests", get_requests)
    app.router.add_get("/_sim/messages/{msg_id}", get_message)
    app.router.add_post("/_sim/messages/{msg_id}/status", post_message_status)
    app.router.add_post("/_sim/recipients/{user_id}", post_recipient)
