"""Sending over both transports: reply shapes, what the SDKs send, conversation rules, atomic batches."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import pytest

from simulator import Simulator, UserBehaviour
from tests.simulator.conftest import read_keystore
from tests.simulator.wire_client import (
    BlazeSocket,
    HttpApi,
    json_message,
    text_message,
    unique_conversation_id,
)


def test_create_message_reply_is_a_status_only_view(connect: Callable[..., BlazeSocket], sim: Simulator) -> None:
    message = text_message(sim.bot_id, sim.user_ids[0], "Hello 👋")
    reply = connect().call("CREATE_MESSAGE", message)
    data = reply["data"]
    assert reply["action"] == "CREATE_MESSAGE" and "error" not in reply
    assert {k: v for k, v in data.items() if k not in ("created_at", "updated_at")} == {
        "type": "message",
        "representative_id": "",
        "quote_message_id": "",
        "conversation_id": "",
        "user_id": sim.bot_id,
        "message_id": message["message_id"],
        "category": "",
        "data": "",
        "status": "SENT",
        "source": "CREATE_MESSAGE",
    }
    assert data["created_at"].endswith("Z") and len(data["created_at"]) == len("2019-01-10T03:44:22.540536153Z")


def test_create_plain_messages_reply_is_bare(connect: Callable[..., BlazeSocket], sim: Simulator) -> None:
    socket = connect()
    messages = [text_message(sim.bot_id, user) for user in sim.user_ids[:3]]
    assert socket.call("CREATE_PLAIN_MESSAGES", {"messages": messages}) == {
        "id": socket.last_id,
        "action": "CREATE_PLAIN_MESSAGES",
    }
    stats = sim.stats()
    assert stats["visible_messages"] == 3
    assert stats["requests"]["blaze"] == 1


def test_post_messages_takes_an_array_or_one_object(api: HttpApi, sim: Simulator) -> None:
    batch = [text_message(sim.bot_id, user) for user in sim.user_ids[:2]]
    response = api.request("POST", "/messages", batch)
    assert response.status_code == 200 and response.json() == {}
    assert response.headers["X-Request-Id"] == response.request.headers["X-Request-Id"]
    assert api.request("POST", "/messages", text_message(sim.bot_id, sim.user_ids[2])).json() == {}
    assert sim.stats()["visible_messages"] == 3


@pytest.mark.parametrize(
    "encode",
    [
        lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode(),  # Go: RawURL
        lambda b: base64.b64encode(b).decode(),  # Kotlin: std, padded
        lambda b: base64.urlsafe_b64encode(b).decode(),  # url alphabet, padded
        lambda b: base64.b64encode(b).rstrip(b"=").decode(),  # std alphabet, unpadded
    ],
)
@pytest.mark.parametrize("field", ["data", "data_base64"])
def test_payload_in_either_field_and_any_base64_flavour(
    api: HttpApi, sim: Simulator, encode: Callable[[bytes], str], field: str
) -> None:
    payload = "ünïcode ✓ with ?>> bytes that differ between alphabets ~~~".encode()
    canonical = text_message(sim.bot_id, sim.user_ids[0], payload=payload)
    assert api.request("POST", "/messages", [canonical]).json() == {}
    variant = {k: v for k, v in canonical.items() if k != "data_base64"}
    variant[field] = encode(payload)
    # Decoded to the same bytes: an idempotent re-send, not a conflicting re-use (10002).
    assert api.request("POST", "/messages", [variant]).json() == {}
    stats = sim.stats()
    assert (stats["distinct_message_ids"], stats["duplicate_message_ids"]) == (1, 1)


def test_data_base64_wins_over_data_and_empty_optionals_are_absent(api: HttpApi, sim: Simulator) -> None:
    message = text_message(sim.bot_id, sim.user_ids[0])
    message.update(data="!!! not base64", representative_id="", quote_message_id="", recipient_id="")
    assert api.request("POST", "/messages", [message]).json() == {}
    # recipient_id "" was inferred from the CONTACT conversation.
    assert sim.message(message["message_id"])["recipient_id"] == sim.user_ids[0]  # type: ignore[index]


def _error(response_json: dict[str, Any]) -> dict[str, Any]:
    error = response_json["error"]
    assert isinstance(error, dict)
    return error


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"message_id": "0B9F2C4E-2F7B-4B51-8A6E-6C2B7F0D9A01"}, "message_id"),
        ({"conversation_id": "nope"}, "conversation_id"),
        ({"recipient_id": "D1E9EC7E-199D-4578-91A0-A69D9A7BA048"}, "recipient_id"),
        ({"category": "SIGNAL_TEXT"}, "category"),
        ({"data_base64": "###"}, "data_base64"),
        ({"data_base64": None}, "data_base64"),
        ({"silent": "yes"}, "silent"),
        ({"quote_message_id": "x"}, "quote_message_id"),
    ],
)
def test_invalid_fields_get_10002_naming_the_field(
    api: HttpApi, sim: Simulator, change: dict[str, Any], field: str
) -> None:
    good = text_message(sim.bot_id, sim.user_ids[1])
    bad = {**text_message(sim.bot_id, sim.user_ids[0]), **change}
    bad = {k: v for k, v in bad.items() if v is not None}
    response = api.request("POST", "/messages", [good, bad])
    assert response.status_code == 202
    error = _error(response.json())
    assert (error["status"], error["code"]) == (202, 10002)
    assert error["description"] == "The request data has invalid field."
    assert error["extra"]["field"] == field
    assert error["extra"]["index"] == 1
    # The batch is atomic: the good message was not accepted either.
    stats = sim.stats()
    assert stats["messages_accepted"] == 0 and stats["errors_sent"] == {"10002": 1}


def test_forbidden_recipients_reject_the_whole_batch(make_sim: Callable[..., Simulator]) -> None:
    sim = make_sim(behaviour=UserBehaviour.fast(blocked_fraction=0.5), users=40)
    blocked = next(u for u in sim.user_ids if sim.population.users[u].blocked)
    fine = next(u for u in sim.user_ids if not sim.population.users[u].blocked)
    unknown = "d1e9ec7e-199d-4578-91a0-a69d9a7ba048"
    with HttpApi(sim.http_url, read_keystore(sim)) as api:
        for recipient in (blocked, unknown):
            batch = [text_message(sim.bot_id, fine), text_message(sim.bot_id, recipient)]
            error = _error(api.request("POST", "/messages", batch).json())
            assert (error["code"], error["description"]) == (403, "Forbidden.")
            assert error["extra"]["recipient_id"] == recipient
        assert api.request("POST", "/messages", [text_message(sim.bot_id, fine)]).json() == {}
    stats = sim.stats()
    assert stats["forbidden_403"] == 2 and stats["messages_accepted"] == 1


def test_conversation_must_exist_and_match(make_sim: Callable[..., Simulator]) -> None:
    sim = make_sim(behaviour=UserBehaviour.fast(non_contact_fraction=1.0), users=3)
    stranger, other = sim.user_ids[0], sim.user_ids[1]
    with HttpApi(sim.http_url, read_keystore(sim)) as api:
        message = text_message(sim.bot_id, stranger)
        assert _error(api.request("POST", "/messages", [message]).json())["code"] == 403
        conversation = {
            "category": "CONTACT",
            "conversation_id": unique_conversation_id(sim.bot_id, stranger),
            "participants": [{"user_id": stranger}],
        }
        created = api.request("POST", "/conversations", conversation).json()["data"]
        assert created["conversation_id"] == conversation["conversation_id"]
        assert {p["user_id"] for p in created["participants"]} == {sim.bot_id, stranger}
        assert api.request("POST", "/conversations", conversation).json()["data"] == created  # idempotent
        assert api.request("GET", f"/conversations/{created['conversation_id']}").json()["data"] == created
        assert api.request("POST", "/messages", [message]).json() == {}
        # A conversation id that is not UniqueConversationId(bot, recipient) is named as the culprit.
        wrong = {**text_message(sim.bot_id, other), "conversation_id": unique_conversation_id(stranger, other)}
        assert _error(api.request("POST", "/messages", [wrong]).json())["extra"]["field"] == "conversation_id"
        # An existing conversation of another user does not take a different recipient.
        mixed = {**text_message(sim.bot_id, other), "conversation_id": created["conversation_id"]}
        assert _error(api.request("POST", "/messages", [mixed]).json())["code"] == 403
        missing = api.request("GET", f"/conversations/{unique_conversation_id(sim.bot_id, other)}").json()
        assert _error(missing)["code"] == 404


def test_plain_batch_refuses_app_categories_that_http_accepts(
    connect: Callable[..., BlazeSocket], api: HttpApi, sim: Simulator
) -> None:
    button = {"label": "Open", "color": "#0A0B0C", "action": "https://example.com"}
    card = {"app_id": sim.bot_id, "title": "News", "description": "Read the announcement", "actions": [button]}
    message = json_message(sim.bot_id, sim.user_ids[0], "APP_CARD", card)
    reply = connect().call("CREATE_PLAIN_MESSAGES", {"messages": [message]})
    assert reply["error"]["code"] == 10002 and reply["error"]["extra"]["field"] == "category"
    assert api.request("POST", "/messages", [message]).json() == {}


def test_representative_id_needs_a_permission_the_bot_lacks(api: HttpApi, sim: Simulator) -> None:
    message = {**text_message(sim.bot_id, sim.user_ids[0]), "representative_id": sim.user_ids[1]}
    assert _error(api.request("POST", "/messages", [message]).json())["code"] == 403


def test_malformed_json_body_is_400(api: HttpApi) -> None:
    error = _error(api.request("POST", "/messages", raw=b"[{").json())
    assert (error["status"], error["code"]) == (202, 400)


def test_unknown_paths_get_the_mixin_404_body(api: HttpApi) -> None:
    for method, path in (("GET", "/no/such/endpoint"), ("GET", "/messages")):
        response = api.request(method, path)
        assert response.status_code == 202
        error = _error(response.json())
        assert (error["code"], error["description"]) == (404, "The endpoint is not found.")
