"""Authentication: every JWT rule of spec §1.3 / checklist item 4, and the 401 shapes of items 5-6."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable

import pytest
import websocket

from simulator import FaultPlan, Simulator
from simulator.auth import AuthError, AuthPolicy, TokenVerifier
from simulator.identity import BotIdentity
from tests.simulator.conftest import read_keystore
from tests.simulator.wire_client import BlazeSocket, HttpApi, SocketClosed, b64url, sign_token

UNAUTHORIZED = {"status": 202, "code": 401, "description": "Unauthorized, maybe invalid token."}
WS_AUTH_ERROR = {"id": "00000000-0000-0000-0000-000000000000", "action": "ERROR", "error": UNAUTHORIZED}

# The test vector of spec §1.3.
SPEC_TOKEN = (
    "eyJhbGciOiJFZERTQSIsInR5cCI6IkpXVCJ9.eyJleHAiOjE3MDAwMDM2MDAsImlhdCI6MTcwMDAwMDAwMCwianRpIjoiMDAw"
    "MDAwMDAtMDAwMC00MDAwLTgwMDAtMDAwMDAwMDAwMDAxIiwic2NwIjoiRlVMTCIsInNpZCI6IjIyMjIyMjIyLTIyMjItNDIy"
    "Mi04MjIyLTIyMjIyMjIyMjIyMiIsInNpZyI6ImY4MzdlYmViNGMyOTgxYWQ5YzY0YjcwZDBiMGQxODcyNGM3NmM2MDc4MWI5"
    "ZTRiZjdhNTgyNTEwZGY3YWRhMzkiLCJ1aWQiOiIxMTExMTExMS0xMTExLTQxMTEtODExMS0xMTExMTExMTExMTEifQ.ZfXxHVa"
    "TQn6pW6lPbJxq1o45EOzqXZqiybI3QpNFZOmogas6wncyNS4UFaOMIBHhGZ8yWLSrooy7jvKW9fRZCQ"
)
SPEC_SIG = "f837ebeb4c2981ad9c64b70d0b0d18724c76c60781b9e4bf7a582510df7ada39"


def spec_verifier() -> TokenVerifier:
    identity = BotIdentity(
        bot_id="11111111-1111-4111-8111-111111111111",
        session_id="22222222-2222-4222-8222-222222222222",
        session_seed=bytes(range(32)),
        spend_seed=bytes(32),
        server_seed=bytes(32),
    )
    assert identity.session_public_b64url == "A6EHv_POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg"
    return TokenVerifier([identity], AuthPolicy())


def test_the_spec_test_vector_verifies_and_any_altered_byte_does_not() -> None:
    verifier = spec_verifier()
    bot_id, claims = verifier.verify(f"Bearer {SPEC_TOKEN}", SPEC_SIG, now=1_700_000_100)
    assert bot_id == "11111111-1111-4111-8111-111111111111"
    assert claims["jti"] == "00000000-0000-4000-8000-000000000001"
    with pytest.raises(AuthError, match="expired"):
        verifier.verify(f"Bearer {SPEC_TOKEN}", SPEC_SIG, now=1_700_003_600)
    header, claims_b64, signature = SPEC_TOKEN.split(".")
    # The same claims re-serialized with a space: the signature no longer covers these bytes.
    spaced = json.dumps(json.loads(base64.urlsafe_b64decode(claims_b64 + "==")), sort_keys=True)
    with pytest.raises(AuthError, match="bad signature"):
        verifier.verify(f"Bearer {header}.{b64url(spaced.encode())}.{signature}", SPEC_SIG, now=1_700_000_100)


def test_a_valid_token_reaches_the_api(api: HttpApi, sim: Simulator) -> None:
    response = api.request("GET", "/me")
    assert response.status_code == 200
    assert response.json()["data"]["user_id"] == sim.bot_id
    assert response.headers["X-Request-Id"]


def _refused(api: HttpApi, token: str, path: str = "/me") -> None:
    response = api.request("GET", path, token=token)
    assert response.status_code == 202
    assert response.json() == {"error": UNAUTHORIZED}
    server_ns = int(response.headers["X-Server-Time"])
    assert abs(server_ns / 1e9 - time.time()) < 5


def test_bad_signature_is_401_with_server_time(api: HttpApi, keystore: dict[str, str]) -> None:
    other = dict(keystore, session_private_key="11" * 32)
    _refused(api, sign_token(other, "GET", "/me"))


def test_unknown_session_or_user_is_401(api: HttpApi, keystore: dict[str, str]) -> None:
    _refused(api, sign_token(keystore, "GET", "/me", claims={"sid": "33333333-3333-4333-8333-333333333333"}))
    _refused(api, sign_token(keystore, "GET", "/me", claims={"uid": "33333333-3333-4333-8333-333333333333"}))


def test_sig_must_cover_method_path_query_and_body(api: HttpApi, keystore: dict[str, str]) -> None:
    _refused(api, sign_token(keystore, "POST", "/me"))
    _refused(api, sign_token(keystore, "GET", "/"))
    body = json.dumps([{"message_id": "00000000-0000-4000-8000-000000000000", "status": "READ"}]).encode()
    tampered = sign_token(keystore, "POST", "/acknowledgements", body + b" ")
    response = api.request("POST", "/acknowledgements", raw=body, token=tampered)
    assert response.json() == {"error": UNAUTHORIZED}
    # The query string is part of the signed URI (§1.3).
    path = "/messages/status/0?limit=10"
    assert api.request("GET", path, token=sign_token(keystore, "GET", "/messages/status/0")).json() == {
        "error": UNAUTHORIZED
    }
    assert api.request("GET", path).status_code == 200


def test_expired_token_and_future_iat_are_refused_but_long_exp_is_not(api: HttpApi, keystore: dict[str, str]) -> None:
    now = time.time()
    _refused(api, sign_token(keystore, "GET", "/me", iat=now - 100, exp=now - 1))
    _refused(api, sign_token(keystore, "GET", "/me", iat=now + 301 + 5))
    _refused(api, sign_token(keystore, "GET", "/me", drop=("exp",)))
    # Within the five minutes of skew, and a year-long token (the Dart SDK's): both fine.
    assert api.request("GET", "/me", token=sign_token(keystore, "GET", "/me", iat=now + 200)).status_code == 200
    year = sign_token(keystore, "GET", "/me", iat=now - 3600, exp=now + 365 * 86400)
    assert api.request("GET", "/me", token=year).status_code == 200


def test_strict_iat_refuses_an_old_issue_time(make_sim: Callable[..., Simulator]) -> None:
    sim = make_sim(strict_iat=True)
    with HttpApi(sim.http_url, read_keystore(sim)) as api:
        _refused(api, sign_token(api.keystore, "GET", "/me", iat=time.time() - 400))
        assert api.request("GET", "/me").status_code == 200
    assert sim.stats()["auth_failures"] == {"iat is older than the clock skew (strict mode)": 1}


def test_rs512_is_refused_by_default_and_accepted_with_the_option(make_sim: Callable[..., Simulator]) -> None:
    sim = make_sim(accept_rs512=True)
    rsa_keystore = json.loads(sim.write_keystore(sim.keystore_path.with_name("rsa.json"), "rsa").read_text())
    assert rsa_keystore["private_key"].startswith("-----BEGIN RSA PRIVATE KEY-----")
    with HttpApi(sim.http_url, rsa_keystore) as api:
        token = sign_token(rsa_keystore, "GET", "/me", alg="RS512")
        assert api.request("GET", "/me", token=token).status_code == 200

    default = make_sim()
    with pytest.raises(ValueError, match="no RSA key"):
        default.identities[0].keystore("rsa")
    # An RS512 token from another RSA key, presented to a simulator that does not accept RS512.
    foreign = dict(rsa_keystore, client_id=default.bot_id, session_id=default.identities[0].session_id)
    with HttpApi(default.http_url, foreign) as plain:
        _refused(plain, sign_token(foreign, "GET", "/me", alg="RS512"))


def test_alg_none_and_garbage_are_refused(api: HttpApi, keystore: dict[str, str]) -> None:
    token = sign_token(keystore, "GET", "/me")
    header, claims, _ = token.split(".")
    none_header = b64url(b'{"alg":"none","typ":"JWT"}')
    _refused(api, f"{none_header}.{claims}.")
    _refused(api, "not-a-token")
    _refused(api, f"{header}.{claims}")
    response = api.session.get(api.base_url + "/me", timeout=5)  # no Authorization at all
    assert response.json() == {"error": UNAUTHORIZED}


def test_legacy_keystore_is_accepted(sim: Simulator) -> None:
    legacy = sim.write_keystore(sim.keystore_path.with_name("legacy.json"), "legacy")
    keystore = json.loads(legacy.read_text())
    assert set(keystore) == {"client_id", "session_id", "private_key", "pin_token"}
    with HttpApi(sim.http_url, keystore) as api:
        assert api.request("GET", "/me").status_code == 200


def test_jti_reuse_is_refused_only_when_asked(make_sim: Callable[..., Simulator]) -> None:
    for unique, second_status in ((False, 200), (True, 202)):
        sim = make_sim(unique_jti_http=unique)
        with HttpApi(sim.http_url, read_keystore(sim)) as api:
            token = sign_token(api.keystore, "GET", "/me")
            assert api.request("GET", "/me", token=token).status_code == 200
            assert api.request("GET", "/me", token=token).status_code == second_status


def test_websocket_with_bad_token_gets_error_frame_then_close(sim: Simulator, keystore: dict[str, str]) -> None:
    expired = sign_token(keystore, iat=time.time() - 7200, exp=time.time() - 3600)
    with BlazeSocket(sim.blaze_url, token=expired) as socket:
        assert socket.receive() == WS_AUTH_ERROR
        with pytest.raises(SocketClosed):
            socket.receive()
    # A token signed for an HTTP request is not a websocket token (sig must be sha256("GET/")).
    with BlazeSocket(sim.blaze_url, token=sign_token(keystore, "GET", "/me")) as socket:
        assert socket.receive() == WS_AUTH_ERROR
    assert sim.stats()["errors_sent"] == {"401": 2}


def test_websocket_auth_mode_http_401_refuses_the_upgrade(make_sim: Callable[..., Simulator]) -> None:
    sim = make_sim(faults=FaultPlan(ws_auth_mode="http_401"))
    keystore = read_keystore(sim)
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        BlazeSocket(sim.blaze_url, token=sign_token(keystore, claims={"sig": "0" * 64}))
    assert refused.value.status_code == 401
    assert json.loads(refused.value.resp_body or b"{}") == {"error": UNAUTHORIZED}
    assert "x-server-time" in {k.lower() for k in (refused.value.resp_headers or {})}
    with BlazeSocket(sim.blaze_url, keystore) as good:
        assert good.call("LIST_PENDING_MESSAGES") == {"id": good.last_id, "action": "LIST_PENDING_MESSAGES"}


def test_keys_never_appear_in_reprs(sim: Simulator, keystore: dict[str, str]) -> None:
    identity = sim.identities[0]
    for text in (repr(identity), repr(sim.config), str(sim.stats())):
        assert keystore["session_private_key"] not in text
        assert keystore["spend_private_key"] not in text
