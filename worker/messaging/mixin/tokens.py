"""EdDSA JWTs that authenticate the bot to Mixin (spec §1.3), as pure functions.

A token binds one request: ``sig`` is the hex SHA-256 of ``METHOD + path-with-query + body``.
The websocket token signs ``GET`` ``/`` with an empty body. Claims are serialized compactly with
sorted keys, which reproduces the spec's test vector byte for byte.
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from worker.messaging.mixin.keystore import Keystore

_HEADER = {"alg": "EdDSA", "typ": "JWT"}

#: exp - iat. Mixin does not cap it (SDKs use 60 s to 365 days); one hour is what Node uses,
#: long enough for a websocket token that outlives a slow handshake, short if one ever leaks.
TOKEN_LIFETIME_SECONDS = 3600


def b64url(raw: bytes) -> str:
    """Base64url without padding, the JWT segment encoding."""
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _compact_json(value: Mapping[str, Any]) -> bytes:
    return json.dumps(value, separators=(",", ":"), sort_keys=True).encode()


def request_signature(method: str, uri: str, body: bytes | str = b"") -> str:
    """The ``sig`` claim: hex SHA-256 of upper-case method, path with query, and exact body."""
    raw_body = body.encode() if isinstance(body, str) else body
    return hashlib.sha256(method.upper().encode() + uri.encode() + raw_body).hexdigest()


def encode_token(claims: Mapping[str, Any], sign: Callable[[bytes], bytes]) -> str:
    """Assemble ``header.claims.signature``; ``sign`` returns the raw Ed25519 signature."""
    signing_input = f"{b64url(_compact_json(_HEADER))}.{b64url(_compact_json(claims))}"
    return f"{signing_input}.{b64url(sign(signing_input.encode('ascii')))}"


def token_claims(
    *,
    app_id: str,
    session_id: str,
    signature: str,
    now: float,
    jti: str,
    lifetime: int = TOKEN_LIFETIME_SECONDS,
) -> dict[str, Any]:
    """The bot token's claims (``scp`` FULL, as every SDK sends for a bot keystore)."""
    issued_at = int(now)
    return {
        "uid": app_id,
        "sid": session_id,
        "iat": issued_at,
        "exp": issued_at + lifetime,
        "jti": jti,
        "sig": signature,
        "scp": "FULL",
    }


def sign_request_token(
    keystore: Keystore,
    method: str,
    uri: str,
    body: bytes | str = b"",
    *,
    now: float,
    jti: str | None = None,
    lifetime: int = TOKEN_LIFETIME_SECONDS,
) -> str:
    """A fresh token for one request; ``jti`` defaults to a random UUID (never reused)."""
    claims = token_claims(
        app_id=keystore.app_id,
        session_id=keystore.session_id,
        signature=request_signature(method, uri, body),
        now=now,
        jti=jti or str(uuid.uuid4()),
        lifetime=lifetime,
    )
    return encode_token(claims, keystore.sign)
