"""A minimal hand-built Mixin client for testing the simulator: JWT signing, gzip frames, HTTP.

Written from the spec, independently of both `worker/` (blazecast's client) and the simulator's
own modules, so that the tests check the simulator against the spec rather than against itself.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import requests
import websocket
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def sign_token(
    keystore: dict[str, str],
    method: str = "GET",
    uri: str = "/",
    body: bytes = b"",
    *,
    iat: float | None = None,
    exp: float | None = None,
    alg: str = "EdDSA",
    claims: dict[str, Any] | None = None,
    drop: tuple[str, ...] = (),
) -> str:
    """A bot token as §1.3 describes, from a current, legacy or RSA keystore."""
    now = time.time()
    payload: dict[str, Any] = {
        "uid": keystore.get("app_id") or keystore["client_id"],
        "sid": keystore["session_id"],
        "iat": int(now if iat is None else iat),
        "exp": int(now + 3600 if exp is None else exp),
        "jti": str(uuid.uuid4()),
        "sig": hashlib.sha256(method.encode() + uri.encode() + body).hexdigest(),
        "scp": "FULL",
    }
    payload.update(claims or {})
    for name in drop:
        payload.pop(name, None)
    header = b64url(json.dumps({"alg": alg, "typ": "JWT"}, separators=(",", ":")).encode())
    claims_segment = b64url(json.dumps(payload, separators=(",", ":"), sort_keys=True).encode())
    signed = f"{header}.{claims_segment}".encode()
    private = keystore.get("session_private_key") or keystore["private_key"]
    if private.startswith("-----BEGIN"):
        rsa_key = load_pem_private_key(private.encode(), password=None)
        assert isinstance(rsa_key, rsa.RSAPrivateKey)
        signature = rsa_key.sign(signed, padding.PKCS1v15(), hashes.SHA512())
    elif "session_private_key" in keystore:
        signature = ed25519.Ed25519PrivateKey.from_private_bytes(bytes.fromhex(private)).sign(signed)
    else:
        raw = base64.urlsafe_b64decode(private + "=" * (-len(private) % 4))
        signature = ed25519.Ed25519PrivateKey.from_private_bytes(raw[:32]).sign(signed)
    return f"{header}.{claims_segment}.{b64url(signature)}"


def gzip_frame(envelope: dict[str, Any]) -> bytes:
    return gzip.compress(json.dumps(envelope).encode())


def ungzip_frame(data: bytes) -> dict[str, Any]:
    value = json.loads(gzip.decompress(data))
    assert isinstance(value, dict)
    return value


class SocketClosed(Exception):
    """The server closed the websocket; `code` is its close code."""

    def __init__(self, code: int | None) -> None:
        super().__init__(f"websocket closed with code {code}")
        self.code = code


class BlazeSocket:
    """One websocket to the simulator, speaking gzip binary frames."""

    def __init__(
        self,
        url: str,
        keystore: dict[str, str] | None = None,
        *,
        token: str | None = None,
        subprotocols: list[str] | None = None,
        timeout: float = 5.0,
    ) -> None:
        if token is None:
            assert keystore is not None
            token = sign_token(keystore)
        self.ws = websocket.create_connection(
            url,
            header=[f"Authorization: Bearer {token}"],
            subprotocols=["Mixin-Blaze-1"] if subprotocols is None else subprotocols,
            timeout=timeout,
        )
        # Frames that arrived while waiting for something else (replies or pushes).
        self.backlog: list[dict[str, Any]] = []
        self.last_id = ""

    @property
    def subprotocol(self) -> str | None:
        """The Sec-WebSocket-Protocol the server answered, as sent (websocket-client lowercases it)."""
        value = (self.ws.getheaders() or {}).get("sec-websocket-protocol")
        return value if isinstance(value, str) else None

    def send(self, envelope: dict[str, Any]) -> None:
        self.ws.send_bytes(gzip_frame(envelope))

    def receive(self, timeout: float = 5.0) -> dict[str, Any]:
        """The next frame (pongs to server pings are answered by websocket-client)."""
        self.ws.settimeout(timeout)
        try:
            opcode, data = self.ws.recv_data()
        except websocket.WebSocketConnectionClosedException:
            raise SocketClosed(None) from None
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            raise SocketClosed(int.from_bytes(data[:2], "big") if len(data) >= 2 else None)
        assert opcode == websocket.ABNF.OPCODE_BINARY, f"expected a binary frame, got opcode {opcode}"
        return ungzip_frame(data)

    def wait_for(self, match: Callable[[dict[str, Any]], bool], timeout: float = 5.0) -> dict[str, Any]:
        """The first frame (from the backlog, then the socket) that matches; others are kept."""
        for index, frame in enumerate(self.backlog):
            if match(frame):
                return self.backlog.pop(index)
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("no matching frame arrived")
            try:
                frame = self.receive(remaining)
            except websocket.WebSocketTimeoutException:
                raise TimeoutError("no matching frame arrived") from None
            if match(frame):
                return frame
            self.backlog.append(frame)

    def call(self, action: str, params: Any = None, timeout: float = 5.0) -> dict[str, Any]:
        """Send one request and return the reply with the same id."""
        request_id = self.last_id = str(uuid.uuid4())
        envelope: dict[str, Any] = {"id": request_id, "action": action}
        if params is not None:
            envelope["params"] = params
        self.send(envelope)
        return self.wait_for(lambda frame: frame.get("id") == request_id, timeout)

    def pushes(self, action: str, count: int, timeout: float = 5.0) -> list[dict[str, Any]]:
        """`count` pushes of the given action, in arrival order."""
        return [self.wait_for(lambda f: f.get("action") == action, timeout) for _ in range(count)]

    def close(self) -> None:
        self.ws.close(timeout=1)
        # close() skips the socket once the server has closed the websocket; release it anyway.
        self.ws.shutdown()

    def __enter__(self) -> BlazeSocket:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class HttpApi:
    """Signed requests to the simulator's HTTP API."""

    def __init__(self, base_url: str, keystore: dict[str, str]) -> None:
        self.base_url = base_url
        self.keystore = keystore
        self.session = requests.Session()

    def request(
        self, method: str, path: str, body: Any = None, *, token: str | None = None, raw: bytes | None = None,
        timeout: float = 10.0, headers: dict[str, str] | None = None,
    ) -> requests.Response:
        data = raw if raw is not None else (b"" if body is None else json.dumps(body).encode())
        token = token if token is not None else sign_token(self.keystore, method, path, data)
        all_headers = {
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/json",
            "X-Request-Id": str(uuid.uuid4()),
        }
        all_headers.update(headers or {})
        return self.session.request(method, self.base_url + path, data=data, headers=all_headers, timeout=timeout)

    def control(self, method: str, path: str, body: Any = None) -> requests.Response:
        return self.session.request(method, self.base_url + path, json=body, timeout=10)

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> HttpApi:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def unique_conversation_id(a: str, b: str) -> str:
    """UniqueConversationId of §4.5, written here from the spec text."""
    low, high = sorted((a, b))
    digest = bytearray(hashlib.md5((low + high).encode()).digest())
    digest[6] = (digest[6] & 0x0F) | 0x30
    digest[8] = (digest[8] & 0x3F) | 0x80
    return str(uuid.UUID(bytes=bytes(digest)))


def text_message(
    bot_id: str,
    user_id: str,
    text: str = "hello",
    *,
    message_id: str | None = None,
    category: str = "PLAIN_TEXT",
    payload: bytes | None = None,
    field: str = "data_base64",
) -> dict[str, Any]:
    """A message object of §3.2, payload base64url without padding (the Go SDK's choice)."""
    data = payload if payload is not None else text.encode()
    return {
        "conversation_id": unique_conversation_id(bot_id, user_id),
        "recipient_id": user_id,
        "message_id": message_id or str(uuid.uuid4()),
        "category": category,
        field: b64url(data),
    }


def json_message(bot_id: str, user_id: str, category: str, payload: Any, **kwargs: Any) -> dict[str, Any]:
    return text_message(bot_id, user_id, category=category, payload=json.dumps(payload).encode(), **kwargs)
