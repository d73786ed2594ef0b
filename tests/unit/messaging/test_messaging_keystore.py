"""Keystores: both layouts load; every problem is one line naming file and field, never the key."""

from __future__ import annotations

import base64
import copy
import json
import logging
import pickle
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from messaging_helpers import BOT_ID, SEED_HEX, SESSION_ID, verify_token

from worker.messaging.mixin.keystore import KeystoreError, load_keystore
from worker.messaging.mixin.tokens import sign_request_token

PUBLIC_RAW = (
    Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
    .public_key()
    .public_bytes(Encoding.Raw, PublicFormat.Raw)
)
LEGACY_KEY = base64.urlsafe_b64encode(bytes(range(32)) + PUBLIC_RAW).rstrip(b"=").decode()


def write(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "keystore.json"
    path.write_text(json.dumps(data) if not isinstance(data, str) else data)
    return path


def current(**overrides: object) -> dict[str, object]:
    data: dict[str, object] = {
        "app_id": BOT_ID,
        "session_id": SESSION_ID,
        "session_private_key": SEED_HEX,
        "server_public_key": "ab" * 32,
        "spend_private_key": "cd" * 32,
    }
    data.update(overrides)
    return data


def test_current_keystore_loads_and_signs_verifiable_tokens(tmp_path):
    keystore = load_keystore(write(tmp_path, current()))
    assert (keystore.app_id, keystore.session_id) == (BOT_ID, SESSION_ID)
    assert keystore.server_public_key == "ab" * 32
    claims = verify_token(
        sign_request_token(keystore, "GET", "/", now=1), keystore.public_key_base64
    )
    assert claims["uid"] == BOT_ID


def test_legacy_keystore_loads_with_the_same_identity(tmp_path):
    legacy = {
        "client_id": BOT_ID,
        "session_id": SESSION_ID,
        "private_key": LEGACY_KEY,
        "pin_token": "x",
    }
    keystore = load_keystore(write(tmp_path, legacy))
    assert keystore.app_id == BOT_ID
    assert keystore.public_key_base64 == base64.urlsafe_b64encode(PUBLIC_RAW).rstrip(b"=").decode()


@pytest.mark.parametrize(
    "data, needle",
    [
        (
            current(session_private_key="zz" * 32),
            "'session_private_key' is not the hex of a 32-byte",
        ),
        (
            current(session_private_key=SEED_HEX[:-2]),
            "'session_private_key' is not the hex of a 32-byte",
        ),
        (current(app_id="bot"), "'app_id' is not a UUID"),
        ({k: v for k, v in current().items() if k != "session_id"}, "'session_id' is missing"),
        ({"app_id": BOT_ID, "session_id": SESSION_ID}, "no key field"),
        (
            {"client_id": BOT_ID, "session_id": SESSION_ID, "private_key": LEGACY_KEY[:-8]},
            "64-byte",
        ),
        (
            {
                "client_id": BOT_ID,
                "session_id": SESSION_ID,
                "private_key": "-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----",
            },
            "RSA",
        ),
        (current(session_private_key=SEED_HEX + "00" * 32), "inconsistent"),
        ("{not json", "not valid JSON (line 1, column 2)"),
        ("[1, 2]", "expected a JSON object"),
    ],
)
def test_bad_keystores_fail_with_one_clear_line_and_no_key_material(tmp_path, data, needle):
    path = write(tmp_path, data)
    with pytest.raises(KeystoreError) as caught:
        load_keystore(path)
    message = str(caught.value)
    assert needle in message
    assert str(path) in message
    assert "\n" not in message
    # No chained exception whose message or locals could carry the key into a traceback.
    error = caught.value
    assert error.__cause__ is None and (error.__context__ is None or error.__suppress_context__)
    for secret in (SEED_HEX, SEED_HEX[:16], LEGACY_KEY[:16], "MIIE"):
        assert secret not in message


def test_missing_file_is_named(tmp_path):
    missing = tmp_path / "nope.json"
    with pytest.raises(KeystoreError, match=f"keystore {missing}: file not found"):
        load_keystore(missing)


def test_the_key_never_shows_in_repr_str_logs_or_pickles(tmp_path, caplog):
    keystore = load_keystore(write(tmp_path, current()))
    caplog.set_level(logging.DEBUG)
    logging.getLogger("test").info("loaded %s %r", keystore, keystore)
    texts = [repr(keystore), str(keystore), caplog.text]
    assert all(BOT_ID in text for text in texts)
    for text in texts:
        assert SEED_HEX not in text and SEED_HEX[:16] not in text
    assert not hasattr(keystore, "__dict__")  # nothing for vars() to reveal
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(keystore)
    with pytest.raises(TypeError):
        copy.deepcopy(keystore)
