"""Checklist items 1–3: the operations, the envelope, and app_id/access-token authentication."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from simulator.imrest import ImRestSimulator
from tests.simulator_imrest.conftest import Api


def test_success_is_http_200_with_the_envelope_and_a_null_message(
    api: Api, sim: ImRestSimulator
) -> None:
    response = api.call(
        "POST",
        "/message/send",
        body={
            "targets": [sim.user_ids[0], sim.user_ids[1]],
            "type": 1,
            "content_type": 0,
            "content": "hi",
        },
    )
    assert response.status_code == 200
    assert response.json() == {"code": 200, "data": True, "message": None}


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/message/ack"),
        ("GET", "/message/conversation"),
        ("DELETE", "/message/conversation"),
        ("POST", "/message/notify"),
        ("PUT", "/message/notify"),
        ("POST", "/message/recall"),
        ("PUT", "/message/recall"),
        ("POST", "/message/send"),
        ("PUT", "/message/send"),
        ("GET", "/message/unread"),
    ],
)
def test_every_operation_is_served_and_authenticated(api: Api, method: str, path: str) -> None:
    response = api.call(method, path, token="not-a-token")
    assert response.status_code == 200
    assert response.json()["code"] == 10008


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/message/send"),
        ("DELETE", "/message/recall"),
        ("POST", "/message/unread"),
        ("PATCH", "/message/conversation"),
    ],
)
def test_other_methods_get_405(api: Api, method: str, path: str) -> None:
    response = api.call(method, path)
    assert response.status_code == 405
    assert response.headers["Allow"]


def test_an_unknown_path_is_404(api: Api) -> None:
    response = api.call("POST", "/message/broadcast", body={})
    assert response.status_code == 404 and response.json()["code"] == 404


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({"app_id": ""}, 40000),
        ({"app_id": "no-such-app"}, 40000),
        ({"token": ""}, 10003),
        ({"token": "sim-admin-guessed"}, 10008),
    ],
)
def test_authentication_failures(api: Api, headers: dict[str, str], code: int) -> None:
    envelope = api.json("GET", "/message/unread", user_id=api.sim.user_ids[0], **headers)
    assert envelope["code"] == code and envelope["data"] is None and envelope["message"]


def test_the_token_of_another_app_is_invalid_here(api: Api, sim: ImRestSimulator) -> None:
    assert (
        api.json("GET", "/message/unread", user_id=sim.user_ids[0], token=sim.other_app_token)[
            "code"
        ]
        == 10008
    )
    # ... but valid with its own app_id.
    mine = api.json(
        "GET",
        "/message/unread",
        user_id=sim.user_ids[0],
        token=sim.other_app_token,
        app_id=sim.config.other_app_id,
    )
    assert mine["code"] == 200


def test_user_tokens_act_as_their_user_and_may_not_use_user_id_or_group_id(
    api: Api, sim: ImRestSimulator
) -> None:
    user = sim.user_ids[0]
    token = sim.user_token(user)
    assert api.json("GET", "/message/unread", token=token)["code"] == 200
    assert api.json("GET", "/message/unread", token=token, user_id=user)["code"] == 10010
    assert (
        api.json(
            "GET", "/message/unread", token=token, headers={"group_id": str(sim.group_ids[0])}
        )["code"]
        == 10010
    )
    # A user token sends as its own user only.
    sent = api.send([sim.user_ids[1]], token=token, from_user_id=sim.sender_id)
    assert sent["code"] == 10010
    assert api.send([sim.user_ids[1]], token=token)["code"] == 200
    [message] = sim.messages_to(sim.user_ids[1])
    assert message["from_xid"]["uid"] == user


def test_an_admin_without_user_id_cannot_read_a_users_view(api: Api, sim: ImRestSimulator) -> None:
    envelope = api.json("GET", "/message/unread")
    assert envelope["code"] == 10002 and "user_id" in envelope["message"]


def test_a_user_id_header_that_is_not_an_id_is_10002(api: Api) -> None:
    assert api.json("GET", "/message/unread", headers={"user_id": "me"})["code"] == 10002


def test_the_http_status_switch(
    make_sim: Callable[..., ImRestSimulator], make_api: Callable[[ImRestSimulator], Api]
) -> None:
    api = make_api(make_sim(auth_http_status=True))
    missing = api.call("GET", "/message/unread", token="")
    invalid = api.call("GET", "/message/unread", token="wrong")
    unknown_app = api.call("GET", "/message/unread", app_id="nope")
    assert (missing.status_code, missing.json()["code"]) == (401, 10003)
    assert (invalid.status_code, invalid.json()["code"]) == (401, 10008)
    assert (unknown_app.status_code, unknown_app.json()["code"]) == (403, 40000)
