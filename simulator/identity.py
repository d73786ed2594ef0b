"""Bot identities: real key pairs, the sessions the server accepts, and keystore files.

Each simulated bot has an Ed25519 session key (and, when RS512 is accepted, an RSA one). The
keys are derived from the run's seed so that a restarted simulator accepts the keystore it wrote
before; they protect nothing but a loopback test server. Private keys never appear in a repr,
a log line or an exception.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from simulator.ids import random_uuid

KeystoreFormat = Literal["current", "legacy", "rsa"]


def b64url(data: bytes) -> str:
    """base64url without padding, as JWT segments and Mixin keys use."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass(frozen=True)
class BotIdentity:
    """One bot: its user id (= app_id), session id and keys. repr shows no key material."""

    bot_id: str
    session_id: str
    session_seed: bytes = field(repr=False)
    spend_seed: bytes = field(repr=False)
    server_seed: bytes = field(repr=False)
    rsa_key: rsa.RSAPrivateKey | None = field(default=None, repr=False)

    @classmethod
    def derive(cls, seed: int, index: int, *, with_rsa: bool = False) -> BotIdentity:
        """The identity of bot number `index` of a run with `seed` (same inputs, same keys)."""
        rng = random.Random(f"blazecast-simulator-bot:{seed}:{index}")

        def key_seed(purpose: str) -> bytes:
            return hashlib.sha256(f"{seed}:{index}:{purpose}".encode()).digest()

        rsa_key = (
            rsa.generate_private_key(public_exponent=65537, key_size=2048) if with_rsa else None
        )
        return cls(
            bot_id=random_uuid(rng),
            session_id=random_uuid(rng),
            session_seed=key_seed("session"),
            spend_seed=key_seed("spend"),
            server_seed=key_seed("server"),
            rsa_key=rsa_key,
        )

    @property
    def session_key(self) -> ed25519.Ed25519PrivateKey:
        return ed25519.Ed25519PrivateKey.from_private_bytes(self.session_seed)

    @property
    def session_public_key(self) -> ed25519.Ed25519PublicKey:
        return self.session_key.public_key()

    @property
    def session_public_b64url(self) -> str:
        """The public key as registered with Mixin: base64url of the raw 32 bytes (§1.3)."""
        raw = self.session_public_key.public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        return b64url(raw)

    def _server_public_bytes(self) -> bytes:
        key = ed25519.Ed25519PrivateKey.from_private_bytes(self.server_seed)
        return key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )

    def keystore(self, keystore_format: KeystoreFormat = "current") -> dict[str, str]:
        """The keystore JSON in one of the formats of §1.3."""
        if keystore_format == "current":
            return {
                "app_id": self.bot_id,
                "session_id": self.session_id,
                "session_private_key": self.session_seed.hex(),
                "server_public_key": self._server_public_bytes().hex(),
                "spend_private_key": self.spend_seed.hex(),
            }
        pin_token = b64url(self._server_public_bytes())
        if keystore_format == "legacy":
            public = self.session_public_key.public_bytes(
                serialization.Encoding.Raw, serialization.PublicFormat.Raw
            )
            return {
                "client_id": self.bot_id,
                "session_id": self.session_id,
                "private_key": b64url(self.session_seed + public),
                "pin_token": pin_token,
            }
        if self.rsa_key is None:
            raise ValueError("this bot has no RSA key; start the simulator with accept_rs512")
        pem = self.rsa_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,  # PKCS#1, as legacy keystores hold
            serialization.NoEncryption(),
        )
        return {
            "client_id": self.bot_id,
            "session_id": self.session_id,
            "private_key": pem.decode(),
            "pin_token": pin_token,
        }

    def write_keystore(self, path: Path, keystore_format: KeystoreFormat = "current") -> Path:
        """Write the keystore readable by its owner only; returns the path."""
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            json.dump(self.keystore(keystore_format), handle, indent=2)
            handle.write("\n")
        return path
