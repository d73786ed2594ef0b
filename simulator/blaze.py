"""The Blaze websocket at `GET /` (spec §1.2, §2, §3; checklist items 1-3, 5, 7-9).

The upgrade is authenticated with the JWT signed over `GET /`; a bad token gets the TRACE2019
ERROR frame and a close, or (fault `ws_auth_mode: http_401`) a refused upgrade. The subprotocol
is answered only when offered: `Mixin-Blaze-1` if the client offered it, else the first value it
offered (the Kotlin SDK's `MixinBot-Blaze-1`, for one). Each request frame gets exactly one reply
with the same id and action, unless a fault drops or delays it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web

from simulator.auth import WEBSOCKET_SIG, AuthError
from simulator.core import SendOutcome, SimulatorCore
from simulator.errors import ApiError, invalid_field
from simulator.hub import Connection
from simulator.responses import CORE_KEY, bare_500, error_response, service_info
from simulator.wire import (
    ZERO_UUID,
    FrameError,
    auth_error_push,
    decode_frame,
    encode_frame,
    error_reply,
    reply,
    rfc3339,
    sent_view,
)

logger = logging.getLogger(__name__)

PREFERRED_SUBPROTOCOL = "Mixin-Blaze-1"
# Actions of user clients (§3.1) that a bot connection may send and that need no effect.
IGNORED_ACTIONS = frozenset(
    {
        "COUNT_SIGNAL_KEYS",
        "CONSUME_SESSION_SIGNAL_KEYS",
        "SYNC_SIGNAL_KEYS",
        "CREATE_SIGNAL_KEY_MESSAGES",
        "CREATE_CALL",
        "CREATE_KRAKEN",
        "LIST_KRAKEN_PEERS",
    }
)


def _subprotocols(request: web.Request) -> tuple[str, ...]:
    header = request.headers.get("Sec-WebSocket-Protocol", "")
    offered = [value.strip() for value in header.split(",") if value.strip()]
    if not offered:
        return ()
    return (PREFERRED_SUBPROTOCOL,) if PREFERRED_SUBPROTOCOL in offered else (offered[0],)


def _new_socket(request: web.Request, core: SimulatorCore) -> web.WebSocketResponse:
    # Frames are gzip already, so permessage-deflate would only cost CPU; allow frames a little
    # larger than the body limit so that an oversized batch gets its 10002 instead of a close.
    return web.WebSocketResponse(
        protocols=_subprotocols(request),
        autoping=True,
        compress=False,
        max_msg_size=max(4 * 1024 * 1024, 4 * core.config.max_body_bytes),
    )


async def handle_blaze(request: web.Request) -> web.StreamResponse:
    """GET /: the websocket (or, without an Upgrade header, a short JSON description)."""
    core = request.app[CORE_KEY]
    if request.headers.get("Upgrade", "").lower() != "websocket":
        return web.json_response(service_info(request))
    if core.faults.bare_http_500():
        return bare_500()
    try:
        bot_id = core.authenticate(request.headers.get("Authorization"), WEBSOCKET_SIG, http=False)
    except AuthError:
        core.stats.error_sent(401)
        if core.faults.plan.ws_auth_mode == "http_401":
            return error_response(ApiError(401), request, http_status=401)
        ws = _new_socket(request, core)
        await ws.prepare(request)
        await ws.send_bytes(encode_frame(auth_error_push()))
        await ws.close(code=WSCloseCode.POLICY_VIOLATION, message=b"Unauthorized")
        return ws

    ws = _new_socket(request, core)
    await ws.prepare(request)
    connection = Connection(ws, bot_id, request.transport)
    core.hub.attach(connection)
    core.stats.connections_opened += 1
    connection.start()
    try:
        await _serve(core, connection)
    finally:
        core.hub.detach(connection)
        await connection.stop()
        if not ws.closed:
            await ws.close()
    return ws


async def _serve(core: SimulatorCore, connection: Connection) -> None:
    ws = connection.ws
    max_bytes = max(32 * 1024 * 1024, 4 * core.config.max_body_bytes)
    async for message in ws:
        if message.type == WSMsgType.BINARY:
            try:
                envelope, size = decode_frame(message.data, max_bytes)
            except FrameError as error:
                await _refuse_frame(core, ws, str(error), WSCloseCode.INVALID_TEXT)
                return
            _dispatch(core, connection, envelope, size)
        elif message.type == WSMsgType.TEXT:
            # §2.1: every frame is binary gzip; a text frame is a protocol error.
            await _refuse_frame(core, ws, "text frame", WSCloseCode.UNSUPPORTED_DATA)
            return
        else:
            return


async def _refuse_frame(
    core: SimulatorCore, ws: web.WebSocketResponse, reason: str, code: int
) -> None:
    logger.info("closing a websocket after a bad frame: %s", reason)
    if core.config.bad_frame_error_first:
        error = ApiError(400, {"reason": reason})
        core.stats.error_sent(400)
        await ws.send_bytes(encode_frame(error_reply(ZERO_UUID, "ERROR", error)))
    await ws.close(code=code, message=reason.encode()[:120])


def _dispatch(
    core: SimulatorCore, connection: Connection, envelope: dict[str, Any], size: int
) -> None:
    core.stats.requests["blaze"] += 1
    request_id, action = envelope.get("id"), envelope.get("action")
    if not isinstance(request_id, str) or not isinstance(action, str):
        error = ApiError(400, {"reason": "a request needs a string id and action"})
        _send_error(
            core,
            connection,
            request_id if isinstance(request_id, str) else ZERO_UUID,
            "ERROR",
            error,
        )
        return
    params = envelope.get("params")
    bot_id = connection.bot_id
    try:
        if action == "CREATE_PLAIN_MESSAGES":
            messages = params.get("messages") if isinstance(params, dict) else None
            if not isinstance(messages, list):
                raise invalid_field("messages", "params.messages must be a list")
            outcome = core.send(
                bot_id,
                messages,
                size,
                transport="blaze",
                plain_only=core.config.plain_only_websocket_batch,
            )
            _answer_send(core, connection, request_id, action, outcome, lambda: None)
        elif action == "CREATE_MESSAGE":
            outcome = core.send(bot_id, [params], size, transport="blaze")
            records = outcome.records or []
            _answer_send(
                core,
                connection,
                request_id,
                action,
                outcome,
                lambda: sent_view(
                    bot_id, records[0].message_id, rfc3339(records[0].accepted_at_ns)
                ),
            )
        elif action == "LIST_PENDING_MESSAGES":
            connection.send(encode_frame(reply(request_id, action)))
            core.start_listening(connection)
        elif action == "ACKNOWLEDGE_MESSAGE_RECEIPT":
            core.acknowledge(bot_id, [params])
            connection.send(encode_frame(reply(request_id, action)))
        elif action == "ACKNOWLEDGE_MESSAGE_RECEIPTS":
            core.acknowledge(bot_id, params.get("messages") if isinstance(params, dict) else None)
            connection.send(encode_frame(reply(request_id, action)))
        elif action in IGNORED_ACTIONS:
            connection.send(encode_frame(reply(request_id, action)))
        else:
            raise ApiError(400, {"reason": f"unknown action {action}"})
    except ApiError as error:
        _send_error(core, connection, request_id, action, error)


def _send_error(
    core: SimulatorCore, connection: Connection, request_id: str, action: str, error: ApiError
) -> None:
    core.stats.error_sent(error.code)
    connection.send(encode_frame(error_reply(request_id, action, error)))


def _answer_send(
    core: SimulatorCore,
    connection: Connection,
    request_id: str,
    action: str,
    outcome: SendOutcome,
    success_data: Callable[[], Any],
) -> None:
    """Reply to a sending request, as its fault dictates."""
    fault, stats = outcome.fault, core.stats
    if fault.kind == "cut":
        stats.connections_cut += 1
        connection.cut()
        return
    if fault.kind == "drop":
        stats.replies_dropped += 1
        return
    if outcome.error is not None:
        stats.error_sent(outcome.error.code)
        frame = encode_frame(error_reply(request_id, action, outcome.error))
    else:
        frame = encode_frame(reply(request_id, action, success_data()))
    if fault.kind == "slow":
        stats.replies_slowed += 1
        asyncio.get_running_loop().call_later(fault.seconds, connection.send, frame)
    else:
        connection.send(frame)
