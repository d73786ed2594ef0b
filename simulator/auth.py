"""JWT verification exactly as spec §1.3 and checklist item 4 describe.

The signature is checked over the segments as received (never over re-serialized claims); then
`uid`/`sid` must name a known bot session, `sig` must be the hex SHA-256 of method + path with
query + body, `exp` must lie in the future and `iat` no more than the clock skew ahead (or
behind, in strict mode). `exp` is not capped and `jti` is not required to be unique unless
asked for. A failure raises `AuthError` with a reason for the simulator's own stats; the client
only ever sees the documented 401.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa

from simulator.identity import BotIdentity

# §1.2: the websocket token is signed over "GET" + "/" + "".
WEBSOCKET_SIG = hashlib.sha256(b"GET/").hexdigest()


class AuthError(Exception):
    """Why a token was refused (for stats and logs; never shown to the client)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class AuthPolicy:
    accept_rs512: bool = False
    clock_skew_seconds: float = 300.0
    strict_iat: bool = False


@dataclass(frozen=True)
class _Session:
    identity: BotIdentity
    ed25519_public: ed25519.Ed25519PublicKey
    rsa_public: rsa.RSAPublicKey | None


def request_sig(method: str, path_with_query: str, body: bytes) -> str:
    """Lowercase hex of sha256(METHOD + URI + BODY), the `sig` claim of §1.3."""
    digest = hashlib.sha256(method.upper().encode() + path_with_query.encode() + body)
    return digest.hexdigest()


def _segment(text: str) -> bytes:
    # JWT segments are base64url without padding; tolerate padding all the same.
    padded = text + "=" * (-len(text) % 4)
    try:
        return base64.b64decode(padded, altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        raise AuthError("segment is not base64url") from None


def _json_object(raw: bytes, what: str) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except (UnicodeDecodeError, ValueError):
        raise AuthError(f"{what} is not JSON") from None
    if not isinstance(value, dict):
        raise AuthError(f"{what} is not a JSON object")
    return value


def _number(claims: Mapping[str, Any], name: str) -> float:
    value = claims.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise AuthError(f"claim {name} missing or not a number")
    return float(value)


class TokenVerifier:
    """Verifies bearer tokens against the sessions of the simulated bots."""

    def __init__(self, identities: list[BotIdentity], policy: AuthPolicy) -> None:
        self.policy = policy
        self._sessions: dict[tuple[str, str], _Session] = {}
        for identity in identities:
            rsa_public = identity.rsa_key.public_key() if identity.rsa_key else None
            session = _Session(identity, identity.session_public_key, rsa_public)
            self._sessions[(identity.bot_id, identity.session_id)] = session

    def verify(
        self, authorization: str | None, expected_sig: str, now: float
    ) -> tuple[str, dict[str, Any]]:
        """The bot id and claims of a valid `Authorization: Bearer …` value, else AuthError."""
        if not authorization:
            raise AuthError("no Authorization header")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthError("Authorization is not a Bearer token")
        parts = token.strip().split(".")
        if len(parts) != 3:
            raise AuthError("token does not have three segments")
        header_b64, claims_b64, signature_b64 = parts
        header = _json_object(_segment(header_b64), "header")
        claims = _json_object(_segment(claims_b64), "claims")
        signature = _segment(signature_b64)

        session = self._sessions.get((str(claims.get("uid")), str(claims.get("sid"))))
        if session is None:
            raise AuthError("uid/sid is not a known bot session")
        signed = f"{header_b64}.{claims_b64}".encode()
        self._check_signature(header.get("alg"), session, signed, signature)

        if claims.get("sig") != expected_sig:
            raise AuthError("sig claim does not match the request")
        if _number(claims, "exp") <= now:
            raise AuthError("token expired")
        issued_at = _number(claims, "iat")
        skew = self.policy.clock_skew_seconds
        if issued_at > now + skew:
            raise AuthError("iat is in the future beyond the clock skew")
        if self.policy.strict_iat and issued_at < now - skew:
            raise AuthError("iat is older than the clock skew (strict mode)")
        return session.identity.bot_id, claims

    def _check_signature(
        self, alg: object, session: _Session, signed: bytes, signature: bytes
    ) -> None:
        try:
            if alg == "EdDSA":
                session.ed25519_public.verify(signature, signed)
            elif alg == "RS512" and self.policy.accept_rs512 and session.rsa_public is not None:
                session.rsa_public.verify(signature, signed, padding.PKCS1v15(), hashes.SHA512())
            else:
                raise AuthError(f"algorithm {alg!r} is not accepted")
        except InvalidSignature:
            raise AuthError("bad signature") from None
