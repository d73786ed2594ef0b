"""Checklist items 13 and 14: recall rules, conversation deletion, unread counts."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from simulator.imrest import ImRestSimulator, RecipientBehaviour
from tests.simulator_imrest.conftest import Api


def recall(
    api: Api, acting: int, conversation_id: object, msg_id: object, method: str = "POST"
) -> int:
    body = {"conversation_id": conversation_id, "msg_id": msg_id}
    return int(api.json(method, "/message/recall", body=body, user_id=acting)["code"])


def test_the_sender_recalls_and_the_message_disappears_from_both_views(
    api: Api, sim: ImRestSimulator
) -> None:
    user = sim.user_ids[0]
    [kept] = api.send([user], content="kept")["msg_ids"]
    [gone] = api.send([user], content="oops")["msg_ids"]
    assert recall(api, sim.sender_id, user, gone) == 200
    for viewer, opposite in ((sim.sender_id, user), (user, sim.sender_id)):
        shown = [m["msg_id"] for m in api.page(viewer, opposite)["data"]["messages"]]
        assert shown == [kept]
    assert sim.message(gone)["recalled"] is True
    assert recall(api, sim.sender_id, user, gone, method="PUT") == 200  # a repeat is harmless
    assert sim.stats()["recalls"] == 1


def test_only_the_sender_may_recall(api: Api, sim: ImRestSimulator) -> None:
    user = sim.user_ids[0]
    [msg_id] = api.send([user])["msg_ids"]
    assert recall(api, user, sim.sender_id, msg_id) == 10010
    assert sim.message(msg_id)["recalled"] is False


@pytest.mark.parametrize(
    ("conversation", "msg"),
    [
        ("other user", "the message"),
        ("the user", "unknown"),
        ("the user", "missing"),
        ("missing", "the message"),
    ],
)
def test_recall_refusals_are_10002(
    api: Api, sim: ImRestSimulator, conversation: str, msg: str
) -> None:
    user = sim.user_ids[0]
    [msg_id] = api.send([user])["msg_ids"]
    conversation_id = {"other user": sim.user_ids[1], "the user": user, "missing": None}[
        conversation
    ]
    message_id = {"the message": msg_id, "unknown": msg_id + 1000, "missing": None}[msg]
    assert recall(api, sim.sender_id, conversation_id, message_id) == 10002


def test_the_keep_recalled_switch_flags_instead_of_hiding(
    make_sim: Callable[..., ImRestSimulator], make_api: Callable[[ImRestSimulator], Api]
) -> None:
    sim = make_sim(keep_recalled=True)
    api = make_api(sim)
    user = sim.user_ids[0]
    [msg_id] = api.send([user])["msg_ids"]
    recall(api, sim.sender_id, user, msg_id)
    [message] = api.page(sim.sender_id, user)["data"]["messages"]
    assert message["msg_id"] == msg_id and message["recalled"] is True


def test_unread_lists_conversations_with_unread_counts(
    make_sim: Callable[..., ImRestSimulator], make_api: Callable[[ImRestSimulator], Api]
) -> None:
    sim = make_sim(behaviour=RecipientBehaviour(online=False))
    api = make_api(sim)
    user, friend = sim.user_ids[0], sim.user_ids[1]
    ids = [api.send([user])["msg_ids"][0] for _ in range(3)]
    api.send([user], token=sim.user_token(friend))
    api.send([friend], token=sim.user_token(user))  # the user's own message is not unread to them
    sim.set_status(ids[0], "READ")
    listed = api.json("GET", "/message/unread", user_id=user)["data"]
    assert listed == [
        {"conversation_id": {"uid": friend}, "num": 1},
        {"conversation_id": {"uid": sim.sender_id}, "num": 2},
    ]
    # The sender's side: nothing addressed to the sender is unread.
    assert api.json("GET", "/message/unread", user_id=sim.sender_id)["data"] == [
        {"conversation_id": {"uid": user}, "num": 0}
    ]


def test_delete_hides_a_conversation_for_the_acting_user_only(
    api: Api, sim: ImRestSimulator
) -> None:
    user = sim.user_ids[0]
    api.send([user])
    deleted = api.json(
        "DELETE", "/message/conversation", params={"conversation_id": sim.sender_id}, user_id=user
    )
    assert deleted == {"code": 200, "data": True, "message": None}
    assert api.json("GET", "/message/unread", user_id=user)["data"] == []
    assert len(api.json("GET", "/message/unread", user_id=sim.sender_id)["data"]) == 1
    assert len(api.page(user, sim.sender_id)["data"]["messages"]) == 1  # the messages stay
    api.send([user], content="new")  # a new message brings the conversation back
    assert api.json("GET", "/message/unread", user_id=user)["data"][0]["conversation_id"] == {
        "uid": sim.sender_id
    }


def test_delete_needs_a_conversation_id(api: Api, sim: ImRestSimulator) -> None:
    assert api.json("DELETE", "/message/conversation", user_id=sim.user_ids[0])["code"] == 10002
