"""The simulator's own endpoints under `/_sim/`: stats, requests, faults, reset, test hooks.

No authentication and plain JSON (not the envelope): these are for tests and operators on
loopback, never part of the simulated API.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from simulator.imrest.http_api import CORE_KEY


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


async def _json(request: web.Request) -> Any:
    body = await request.read()
    if not body:
        return {}
    try:
        return json.loads(body)
    except (UnicodeDecodeError, ValueError):
        return None


def _int(raw: str) -> int | None:
    try:
        return int(raw)
    except ValueError:
        return None


async def get_stats(request: web.Request) -> web.Response:
    return web.json_response(request.app[CORE_KEY].snapshot())


async def get_requests(request: web.Request) -> web.Response:
    """The newest requests, oldest first: method, path, code, HTTP status, fault."""
    return web.json_response(list(request.app[CORE_KEY].stats.log))


async def get_faults(request: web.Request) -> web.Response:
    return web.json_response(request.app[CORE_KEY].faults.plan.to_dict())


async def post_faults(request: web.Request) -> web.Response:
    """Replace the fault plan; an empty body clears every fault."""
    raw = await _json(request)
    if not isinstance(raw, dict):
        return _error(400, "faults must be a JSON object")
    try:
        return web.json_response(request.app[CORE_KEY].set_faults(raw))
    except ValueError as error:
        return _error(400, str(error))


async def post_reset(request: web.Request) -> web.Response:
    request.app[CORE_KEY].reset()
    return web.json_response({"reset": True})


async def get_message(request: web.Request) -> web.Response:
    msg_id = _int(request.match_info["msg_id"])
    state = None if msg_id is None else request.app[CORE_KEY].message_state(msg_id)
    if state is None:
        return _error(404, "no message with this msg_id")
    return web.json_response(state)


async def post_message_status(request: web.Request) -> web.Response:
    """Test hook: `{"status": "DELIVERED"}` moves a message forward (never back)."""
    msg_id = _int(request.match_info["msg_id"])
    raw = await _json(request)
    if msg_id is None or not isinstance(raw, dict) or not isinstance(raw.get("status"), str):
        return _error(400, 'the body must be {"status": "UNREAD|DELIVERED|READ"}')
    try:
        return web.json_response(request.app[CORE_KEY].set_status(msg_id, raw["status"]))
    except ValueError as error:
        return _error(400, str(error))


async def post_recipient(request: web.Request) -> web.Response:
    """`{"online": false}`, `{"delivery_delay": 1.0, "read_delay": null}`: change a recipient."""
    user_id = _int(request.match_info["user_id"])
    raw = await _json(request)
    known = {"online", "delivery_delay", "read_delay"}
    if user_id is None or not isinstance(raw, dict) or not set(raw) <= known:
        return _error(400, f"the body may set {', '.join(sorted(known))}")
    try:
        return web.json_response(request.app[CORE_KEY].set_recipient(user_id, **raw))
    except (TypeError, ValueError) as error:
        return _error(400, str(error))


def add_routes(app: web.Application) -> None:
    app.router.add_get("/_sim/stats", get_stats)
    app.router.add_get("/_sim/requests", get_requests)
    app.router.add_get("/_sim/faults", get_faults)
    app.router.add_post("/_sim/faults", post_faults)
    app.router.add_post("/_sim/reset", post_reset)
    app.router.add_get("/_sim/messages/{msg_id}", get_message)
    app.router.add_post("/_sim/messages/{msg_id}/status", post_message_status)
    app.router.add_post("/_sim/recipients/{user_id}", post_recipient)
