"""The Mixin HTTP API beside the websocket (spec §4, checklist item 16).

Every endpoint goes through `_endpoint`: count the request, maybe answer a bare 500, verify the
JWT over method + raw path with query + body, then run the handler and wrap an `ApiError` in
the documented 202 body. `POST /messages` shares validation, quota and idempotency with the
websocket through `SimulatorCore.send`.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from simulator.auth import AuthError, request_sig
from simulator.core import SimulatorCore
from simulator.errors import ApiError, forbidden, invalid_field
from simulator.ids import is_lowercase_uuid, unique_conversation_id
from simulator.ledger import STATE_NAMES
from simulator.responses import CORE_KEY, api_response, bare_500, error_response
from simulator.wire import ZERO_TIME, rfc3339, status_view

Handler = Callable[[SimulatorCore, str, web.Request, bytes], Awaitable[Any]]
# Status changes returned per GET /messages/status call.
STATUS_PAGE = 500
# nginx's code for "closed the connection without a response", shown in the access log only.
NO_RESPONSE = 444


def _endpoint(handler: Handler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def serve(request: web.Request) -> web.StreamResponse:
        core = request.app[CORE_KEY]
        core.stats.requests["http"] += 1
        if core.faults.bare_http_500():
            return bare_500()
        body = await request.read()
        try:
            sig = request_sig(request.method, request.raw_path, body)
            bot_id = core.authenticate(request.headers.get("Authorization"), sig, http=True)
        except AuthError:
            core.stats.error_sent(401)
            return error_response(ApiError(401), request)
        try:
            result = await handler(core, bot_id, request, body)
        except ApiError as error:
            core.stats.error_sent(error.code)
            return error_response(error, request)
        if isinstance(result, web.StreamResponse):
            return result
        return api_response(request, result)

    return serve


def _json_body(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (UnicodeDecodeError, ValueError):
        raise ApiError(400, {"reason": "the body is not JSON"}) from None


async def post_messages(core: SimulatorCore, bot_id: str, request: web.Request, body: bytes) -> Any:
    """A JSON array of message objects, or a single object (§4.2); `{}` on success."""
    payload = _json_body(body)
    objects = payload if isinstance(payload, list) else [payload]
    outcome = core.send(bot_id, objects, len(body), transport="http")
    fault = outcome.fault
    if fault.kind in ("cut", "drop"):
        if fault.kind == "drop":
            core.stats.replies_dropped += 1
            await asyncio.sleep(fault.seconds)
        else:
            core.stats.connections_cut += 1
        if request.transport is not None:
            request.transport.abort()
        return web.Response(status=NO_RESPONSE)
    if fault.kind == "slow":
        core.stats.replies_slowed += 1
        await asyncio.sleep(fault.seconds)
    if outcome.error is not None:
        raise outcome.error
    return {}


async def post_acknowledgements(
    core: SimulatorCore, bot_id: str, request: web.Request, body: bytes
) -> Any:
    """Acks of messages the bot received, at most 100 (§4.3); echoes them."""
    return {"data": core.acknowledge(bot_id, _json_body(body))}


def _conversation(
    core: SimulatorCore, bot_id: str, user_id: str, conversation_id: str
) -> dict[str, Any]:
    """The Conversation object of §4.4 for a CONTACT conversation."""
    created = rfc3339(core.started_at_ns)
    participants = [
        {"type": "participant", "user_id": member, "role": "", "created_at": created}
        for member in (bot_id, user_id)
    ]
    user = core.population.users[user_id]
    return {
        "type": "conversation",
        "conversation_id": conversation_id,
        "creator_id": bot_id,
        "category": "CONTACT",
        "name": "",
        "icon_url": "",
        "announcement": "",
        "created_at": created,
        "code_id": "",
        "code_url": "",
        "mute_until": ZERO_TIME,
        "expire_in": 0,
        "participants": participants,
        "participant_sessions": [
            {
                "type": "participant_session",
                "user_id": user_id,
                "session_id": user.session_id(device),
                "public_key": "",
            }
            for device in range(user.devices)
        ],
        "circles": [],
    }


async def post_conversations(
    core: SimulatorCore, bot_id: str, request: web.Request, body: bytes
) -> Any:
    """Create (idempotently) the CONTACT conversation with one user (§4.4)."""
    payload = _json_body(body)
    if not isinstance(payload, dict):
        raise invalid_field("body", "must be a JSON object")
    if payload.get("category") != "CONTACT":
        raise invalid_field("category", "only CONTACT conversations are simulated")
    participants = payload.get("participants")
    if (
        not isinstance(participants, list)
        or len(participants) != 1
        or not isinstance(participants[0], dict)
    ):
        raise invalid_field("participants", "a CONTACT conversation has exactly one participant")
    user_id = participants[0].get("user_id")
    if not is_lowercase_uuid(user_id):
        raise invalid_field("participants[0].user_id", "must be a lowercase UUID")
    if user_id not in core.population.users:
        raise forbidden("unknown user", recipient_id=user_id)
    conversation_id = payload.get("conversation_id")
    if conversation_id != unique_conversation_id(bot_id, user_id):
        raise invalid_field("conversation_id", "must be UniqueConversationId(bot, participant)")
    core.population.add_contact(bot_id, user_id)
    return {"data": _conversation(core, bot_id, user_id, conversation_id)}


async def get_conversation(
    core: SimulatorCore, bot_id: str, request: web.Request, body: bytes
) -> Any:
    conversation_id = request.match_info["conversation_id"]
    user_id = core.population.user_in(bot_id, conversation_id)
    if user_id is None:
        raise ApiError(404, {"reason": "no such conversation"})
    if core.population.users[user_id].blocked:
        raise forbidden("the user blocked the bot")
    return {"data": _conversation(core, bot_id, user_id, conversation_id)}


async def get_me(core: SimulatorCore, bot_id: str, request: web.Request, body: bytes) -> Any:
    """The bot's own user: the credential and clock probe clients use after a 401 (§4.7)."""
    identity = core.identities[bot_id]
    return {
        "data": {
            "type": "user",
            "user_id": bot_id,
            "identity_number": f"7000{int(bot_id[:8], 16) % 1_000_000:06d}",
            "full_name": "Simulated bot",
            "biography": "",
            "avatar_url": "",
            "relationship": "ME",
            "mute_until": ZERO_TIME,
            "created_at": rfc3339(core.started_at_ns),
            "is_verified": False,
            "app_id": bot_id,
            "session_id": identity.session_id,
        }
    }


async def get_message_status(
    core: SimulatorCore, bot_id: str, request: web.Request, body: bytes
) -> Any:
    """Status changes after an offset in epoch nanoseconds, oldest first (§3.5 item 6)."""
    try:
        offset = int(request.match_info["offset"])
    except ValueError:
        raise invalid_field("offset", "must be epoch nanoseconds") from None
    changes = core.ledger.changes_after(bot_id, offset, STATUS_PAGE)
    return {
        "data": [
            status_view(record.message_id, STATE_NAMES[state], rfc3339(at_ns))
            for record, state, at_ns in changes
        ]
    }


async def not_found(request: web.Request) -> web.StreamResponse:
    """Any other path: the Mixin 404 body rather than aiohttp's plain-text page."""
    core = request.app[CORE_KEY]
    core.stats.requests["http"] += 1
    core.stats.error_sent(404)
    return error_response(ApiError(404, {"path": request.path}), request)


def add_not_found(app: web.Application) -> None:
    """Register the catch-all; call it after every other route."""
    app.router.add_route("*", "/{tail:.*}", not_found)


def add_routes(app: web.Application) -> None:
    app.router.add_post("/messages", _endpoint(post_messages))
    app.router.add_post("/acknowledgements", _endpoint(post_acknowledgements))
    app.router.add_post("/conversations", _endpoint(post_conversations))
    app.router.add_get("/conversations/{conversation_id}", _endpoint(get_conversation))
    app.router.add_get("/me", _endpoint(get_me))
    app.router.add_get("/messages/status/{offset}", _endpoint(get_message_status))
