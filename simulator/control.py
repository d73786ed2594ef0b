"""The simulator's own endpoints under `/_sim/`: stats, faults, reset, per-message state, users.

No authentication and plain JSON (not the Mixin envelope): these are for tests and operators
on loopback, never part of the simulated protocol. Stats, faults and reset are the ones both
fakes have (`simulator.control_routes`); a body that is not JSON is a 400 here.
"""

from __future__ import annotations

from typing import Any, NoReturn

from aiohttp import web

from simulator import control_routes
from simulator.control_routes import json_error, read_json
from simulator.responses import CORE_KEY, service_info


async def _json(request: web.Request) -> Any:
    return await read_json(request, _refuse_not_json)


def _refuse_not_json() -> NoReturn:
    raise web.HTTPBadRequest(
        text='{"error": "the body is not JSON"}', content_type="application/json"
    ) from None


async def get_message(request: web.Request) -> web.Response:
    state = request.app[CORE_KEY].message_state(request.match_info["message_id"])
    if state is None:
        return json_error(404, "no message with this message_id was accepted")
    return web.json_response(state)


async def get_accepted(request: web.Request) -> web.Response:
    """`[[message_id, accepted_at_ns], …]` of every distinct message of one bot (`?bot=`), in the
    order accepted: what a bench needs to count one announcement's messages in any window."""
    core = request.app[CORE_KEY]
    bot_id = request.query.get("bot", core.default_bot_id)
    if bot_id not in core.identities:
        return json_error(404, "unknown bot")
    accepted = [
        [record.message_id, record.accepted_at_ns]
        for record in core.ledger.records.values()
        if record.bot_id == bot_id
    ]
    return web.json_response({"bot_id": bot_id, "accepted": accepted})


async def get_user(request: web.Request) -> web.Response:
    core = request.app[CORE_KEY]
    user = core.population.users.get(request.match_info["user_id"])
    if user is None:
        return json_error(404, "unknown user")
    contacts = [
        bot for bot in core.identities if core.population.conversation_of(bot, user.user_id)
    ]
    return web.json_response(
        {
            "user_id": user.user_id,
            "blocked": user.blocked,
            "never_read": user.never_read,
            "devices": user.devices,
            "online_after": user.online_after,
            "contact_of": contacts,
        }
    )


async def post_user_message(request: web.Request) -> web.Response:
    """A user sends the bot a text: `{"text": "/stop", "bot_id": optional}`."""
    raw = await _json(request)
    if not isinstance(raw, dict) or not isinstance(raw.get("text"), str):
        return json_error(400, 'the body must be {"text": "..."}')
    try:
        created = request.app[CORE_KEY].user_says(
            request.match_info["user_id"], raw["text"], raw.get("bot_id")
        )
    except ValueError as error:
        return json_error(400, str(error))
    return web.json_response({"messages": created})


async def get_info(request: web.Request) -> web.Response:
    return web.json_response(service_info(request))


def add_routes(app: web.Application) -> None:
    control_routes.add_routes(app, CORE_KEY, _json)
    app.router.add_get("/_sim/messages/{message_id}", get_message)
    app.router.add_get("/_sim/accepted", get_accepted)
    app.router.add_get("/_sim/users/{user_id}", get_user)
    app.router.add_post("/_sim/users/{user_id}/messages", post_user_message)
    app.router.add_get("/_sim/info", get_info)
