"""Bot keystores: load one, sign with it, and never let its private key escape.

Two Ed25519 layouts are accepted (spec §1.3):

- current: ``app_id``, ``session_id``, ``session_private_key`` (hex of the 32-byte seed),
  ``server_public_key`` (hex), ``spend_private_key`` (ignored: blazecast never spends);
- legacy: ``client_id``, ``session_id``, ``private_key`` (base64url of the 64-byte private key,
  seed then public key), ``pin_token`` (ignored).

Legacy RSA keystores (PEM ``private_key``, RS512 tokens) are refused with a clear message.
Every problem is one ``KeystoreError`` line naming the file and the field, never the value: the
private key appears in no log, repr, exception or pickle.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NoReturn

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat


class KeystoreError(ValueError):
    """The keystore file is missing, unreadable or invalid; the message names file and field."""


class Keystore:
    """A bot's identity: who it is (``app_id``, ``session_id``) and a way to sign as it."""

    __slots__ = ("_private_key", "app_id", "server_public_key", "session_id", "source")

    def __init__(
        self,
        *,
        app_id: str,
        session_id: str,
        private_key: Ed25519PrivateKey,
        server_public_key: str | None = None,
        source: str = "<memory>",
    ) -> None:
        self.app_id = app_id
        self.session_id = session_id
        self.server_public_key = server_public_key
        self.source = source
        self._private_key = private_key

    def sign(self, message: bytes) -> bytes:
        """The raw 64-byte Ed25519 signature of ``message``."""
        return self._private_key.sign(message)

    @property
    def public_key_base64(self) -> str:
        """The session public key as the server registers it: base64url of 32 raw bytes."""
        raw = self._private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    def __repr__(self) -> str:
        return f"Keystore(app_id={self.app_id!r}, session_id={self.session_id!r}, key=<hidden>)"

    __str__ = __repr__

    def __reduce__(self) -> NoReturn:
        # Pickling would copy the key into a task queue or a cache; load the file instead.
        raise TypeError("a Keystore cannot be pickled; pass the keystore path instead")


def load_keystore(path: str | Path) -> Keystore:
    """Read and validate the JSON keystore at ``path``."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise KeystoreError(f"keystore {source}: file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "unreadable"
        raise KeystoreError(f"keystore {source}: cannot read the file ({reason})") from None
    return parse_keystore(text, source=source)


def parse_keystore(text: str, *, source: str = "<memory>") -> Keystore:
    """Validate a keystore given as JSON text (``source`` names it in errors)."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        # Only the position: the message of JSONDecodeError never quotes the document, but the
        # exception object holds it, so it is not chained.
        raise KeystoreError(
            f"keystore {source}: not valid JSON (line {exc.lineno}, column {exc.colno})"
        ) from None
    if not isinstance(data, dict):
        raise KeystoreError(f"keystore {source}: expected a JSON object")
    return keystore_from_mapping(data, source=source)


def keystore_from_mapping(data: Mapping[str, Any], *, source: str = "<memory>") -> Keystore:
    """Validate a keystore given as a mapping; picks the layout from the fields present."""
    if "session_private_key" in data:
        app_id = _uuid_field(data, "app_id", source)
        seed = _hex_seed(data, source)
        server_public_key = _optional_hex(data, "server_public_key", source)
    elif "private_key" in data:
        app_id = _uuid_field(data, "client_id", source)
        seed = _legacy_seed(data, source)
        server_public_key = None
    else:
        raise KeystoreError(
            f"keystore {source}: no key field; expected 'session_private_key' "
            "(current layout) or 'private_key' (legacy layout)"
        )
    session_id = _uuid_field(data, "session_id", source)
    return Keystore(
        app_id=app_id,
        session_id=session_id,
        private_key=Ed25519PrivateKey.from_private_bytes(seed),
        server_public_key=server_public_key,
        source=source,
    )


def _uuid_field(data: Mapping[str, Any], field: str, source: str) -> str:
    value = data.get(field)
    if not isinstance(value, str) or not value:
        raise KeystoreError(f"keystore {source}: field '{field}' is missing")
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise KeystoreError(f"keystore {source}: field '{field}' is not a UUID") from None


def _hex_seed(data: Mapping[str, Any], source: str) -> bytes:
    value = data.get("session_private_key")
    problem = (
        f"keystore {source}: field 'session_private_key' is not the hex of a 32-byte Ed25519 seed"
    )
    if not isinstance(value, str):
        raise KeystoreError(problem)
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        raise KeystoreError(problem) from None
    if len(raw) == 64:
        # Some tools export seed + public key; accept it only when the halves agree.
        return _checked_seed_and_public(raw, "session_private_key", source)
    if len(raw) != 32:
        raise KeystoreError(problem)
    return raw


def _legacy_seed(data: Mapping[str, Any], source: str) -> bytes:
    value = data.get("private_key")
    if isinstance(value, str) and value.lstrip().startswith("-----BEGIN"):
        raise KeystoreError(
            f"keystore {source}: field 'private_key' is an RSA PEM key; RSA (RS512) keystores "
            "are not supported, create an Ed25519 session for the bot"
        )
    problem = f"keystore {source}: field 'private_key' is not the base64 of a 64-byte Ed25519 key"
    if not isinstance(value, str):
        raise KeystoreError(problem)
    try:
        # Lenient: the legacy tools wrote base64url, some wrote standard base64; padding varies.
        normalized = value.strip().replace("-", "+").replace("_", "/")
        raw = base64.b64decode(normalized + "=" * (-len(normalized) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise KeystoreError(problem) from None
    if len(raw) != 64:
        raise KeystoreError(problem)
    return _checked_seed_and_public(raw, "private_key", source)


def _checked_seed_and_public(raw: bytes, field: str, source: str) -> bytes:
    seed, public = raw[:32], raw[32:]
    derived = Ed25519PrivateKey.from_private_bytes(seed).public_key()
    if derived.public_bytes(Encoding.Raw, PublicFormat.Raw) != public:
        raise KeystoreError(
            f"keystore {source}: field '{field}' is inconsistent (its public half does not "
            "match its seed)"
        )
    return seed


def _optional_hex(data: Mapping[str, Any], field: str, source: str) -> str | None:
    value = data.get(field)
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise KeystoreError(f"keystore {source}: field '{field}' is not a hex string")
    try:
        bytes.fromhex(value)
    except ValueError:
        raise KeystoreError(f"keystore {source}: field '{field}' is not a hex string") from None
    return value.lower()
