"""Helpers for the messaging unit tests: the spec's test key, a scripted Blaze server, messages.

``ScriptedBlaze`` is a loopback aiohttp server that speaks Blaze framing (binary gzip JSON) and
answers exactly as a test tells it: reply, reply late, never reply, push, refuse the token,
cut the connection. It lets the connection code be tested over real sockets without the full
simulator (the integration tests use that one).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import gzip
import hashlib
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from worker.messaging.mixin.ids import message_id_for, unique_conversation_id
from worker.messaging.mixin.keystore import Keystore, keystore_from_mapping
from worker.messaging.mixin.payloads import encode_data
from worker.messaging.transport import OutgoingMessage

BOT_ID = "11111111-1111-4111-8111-111111111111"
ANNOUNCEMENT_ID = "3f1c2d4e-5a6b-4c7d-8e9f-0a1b2c3d4e5f"
SESSION_ID = "22222222-2222-4222-8222-222222222222"
SEED_HEX = bytes(range(32)).hex()  # the spec's test-vector seed 00 01 .. 1f


def spec_keystore() -> Keystore:
    """The keystore of the spec's JWT test vector."""
    return keystore_from_mapping(
        {"app_id": BOT_ID, "session_id": SESSION_ID, "session_private_key": SEED_HEX}
    )


def verify_token(token: str, public_key_b64: str) -> dict[str, Any]:
    """Check an EdDSA JWT like the server does; returns its claims or raises ``InvalidSignature``."""
    head, claims, signature = token.split(".")
    key = Ed25519PublicKey.from_public_bytes(_unb64(public_key_b64))
    key.verify(_unb64(signature), f"{head}.{claims}".encode())
    result: dict[str, Any] = json.loads(_unb64(claims))
    return result


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class HttpRecord:
    """One HTTP request the scripted server received, with its verified token claims."""

    method: str
    path: str
    headers: dict[str, str]  # names lowercased: aiohttp normalizes their case
    body: bytes
    claims: dict[str, Any]
    peer: Any = None


# What the script returns for a request: a frame to send, a (delay, frame) pair, or None to
# never answer. "close" cuts the connection instead.
Response = dict[str, Any] | tuple[float, dict[str, Any]] | str | None


def ok(envelope: dict[str, Any], data: Any = None) -> dict[str, Any]:
    reply: dict[str, Any] = {"id": envelope["id"], "action": envelope["action"]}
    if data is not None:
        reply["data"] = data
    return reply


def error(envelope: dict[str, Any], code: int, description: str, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"status": 500 if code in (500, 7000, 7001) else 202, "code": code}
    body["description"] = description
    if extra:
        body["extra"] = extra
    return {"id": envelope["id"], "action": envelope["action"], "error": body}


@dataclass
class ScriptedBlaze:
    """Loopback Blaze + HTTP server; ``respond`` decides each reply."""

    public_key_b64: str
    respond: Callable[[dict[str, Any]], Response] = ok
    auth: str = "ok"  # "ok", "error_frame" (upgrade then ERROR 401) or "http_401"
    answer_pings: bool = True
    me_headers: dict[str, str] = field(default_factory=dict)
    me_status: int = 200
    requests: list[dict[str, Any]] = field(default_factory=list)
    tokens: list[dict[str, Any]] = field(default_factory=list)
    protocols: list[str] = field(default_factory=list)
    pings: int = 0
    upgrades: int = 0
    me_calls: int = 0
    http_delay: float = 0.0
    http_requests: list[HttpRecord] = field(default_factory=list)
    http_respond: Callable[[HttpRecord], tuple[int, dict[str, str], bytes]] = None  # type: ignore[assignment]
    url: str = ""
    api_url: str = ""
    _loop: asyncio.AbstractEventLoop | None = None
    _sockets: set[web.WebSocketResponse] = field(default_factory=set)

    def __post_init__(self) -> None:
        if self.http_respond is None:
            self.http_respond = self._default_http

    async def _websocket(self, request: web.Request) -> web.StreamResponse:
        self.upgrades += 1
        if self.auth == "http_401":
            return web.Response(status=401, text="Unauthorized")
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        try:
            self.tokens.append(verify_token(token, self.public_key_b64))
        except (InvalidSignature, ValueError):
            self.tokens.append({"invalid": True})
        self.protocols.append(request.headers.get("Sec-WebSocket-Protocol", ""))
        ws = web.WebSocketResponse(protocols=("Mixin-Blaze-1",), autoping=False)
        await ws.prepare(request)
        self._sockets.add(ws)
        try:
            if self.auth == "error_frame":
                await self._send(
                    ws,
                    {
                        "id": "00000000-0000-0000-0000-000000000000",
                        "action": "ERROR",
                        "error": {
                            "status": 202,
                            "code": 401,
                            "description": "Unauthorized, maybe invalid token.",
                        },
                    },
                )
                await ws.close()
                return ws
            async for message in ws:
                if message.type == WSMsgType.PING:
                    self.pings += 1
                    if self.answer_pings:
                        await ws.pong(message.data)
                elif message.type == WSMsgType.BINARY:
                    envelope = json.loads(gzip.decompress(message.data))
                    self.requests.append(envelope)
                    asyncio.ensure_future(self._answer(ws, envelope))
        finally:
            self._sockets.discard(ws)
        return ws

    async def _answer(self, ws: web.WebSocketResponse, envelope: dict[str, Any]) -> None:
        response = self.respond(envelope)
        if response == "close":
            await ws.close()
            return
        if isinstance(response, tuple):
            await asyncio.sleep(response[0])
            response = response[1]
        if isinstance(response, dict) and not ws.closed:
            await self._send(ws, response)

    @staticmethod
    async def _send(ws: web.WebSocketResponse, frame: dict[str, Any]) -> None:
        await ws.send_bytes(gzip.compress(json.dumps(frame).encode()))

    async def _http(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        try:
            claims = verify_token(token, self.public_key_b64)
        except (InvalidSignature, ValueError):
            claims = {"invalid": True}
        peer = request.transport.get_extra_info("peername") if request.transport else None
        headers = {name.lower(): value for name, value in request.headers.items()}
        record = HttpRecord(request.method, request.path_qs, headers, body, claims, peer)
        self.http_requests.append(record)
        if request.path == "/me":
            self.me_calls += 1
        if self.http_delay:
            await asyncio.sleep(self.http_delay)
        status, headers, payload = self.http_respond(record)
        headers = {"X-Request-Id": request.headers.get("X-Request-Id", ""), **headers}
        return web.Response(status=status, headers=headers, body=payload)

    def _default_http(self, record: HttpRecord) -> tuple[int, dict[str, str], bytes]:
        if record.path == "/me" and self.me_status == 401:
            error = {
                "status": 202,
                "code": 401,
                "description": "Unauthorized, maybe invalid token.",
            }
            return 202, self.me_headers, json.dumps({"error": error}).encode()
        data: Any = {"user_id": BOT_ID} if record.path == "/me" else {}
        return 200, self.me_headers, json.dumps({"data": data}).encode()

    def push(self, frame: dict[str, Any]) -> None:
        """Send ``frame`` to every open connection."""
        assert self._loop is not None
        for ws in list(self._sockets):
            asyncio.run_coroutine_threadsafe(self._send(ws, frame), self._loop).result(5)

    def cut(self) -> None:
        """Drop every open connection, as a server restart would."""
        assert self._loop is not None
        for ws in list(self._sockets):
            asyncio.run_coroutine_threadsafe(ws.close(), self._loop).result(5)

    @property
    def open_sockets(self) -> int:
        return len(self._sockets)


@contextlib.contextmanager
def running_blaze_server(keystore: Keystore) -> Iterator[ScriptedBlaze]:
    """Serve a ``ScriptedBlaze`` on a loopback port until the block ends."""
    server = ScriptedBlaze(public_key_b64=keystore.public_key_base64)
    loop = asyncio.new_event_loop()
    app = web.Application()
    app.router.add_get("/", server._websocket)
    app.router.add_route("*", "/{path:.+}", server._http)
    runner = web.AppRunner(app, handle_signals=False)
    loop.run_until_complete(runner.setup())
    site = web.TCPSite(runner, "127.0.0.1", 0)
    loop.run_until_complete(site.start())
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    server.url, server.api_url, server._loop = (
        f"ws://127.0.0.1:{port}/",
        f"http://127.0.0.1:{port}",
        loop,
    )
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def outgoing(index: int, payload_bytes: int = 10, category: str = "PLAIN_TEXT") -> OutgoingMessage:
    """Message ``index`` of a test announcement, to a recipient derived from ``index``."""
    recipient = f"00000000-0000-4000-8000-{index:012d}"
    return OutgoingMessage(
        conversation_id=unique_conversation_id(BOT_ID, recipient),
        recipient_id=recipient,
        message_id=message_id_for(ANNOUNCEMENT_ID, recipient),
        category=category,
        data_base64=encode_data(b"x" * payload_bytes),
    )
