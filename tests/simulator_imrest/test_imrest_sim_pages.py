"""Checklist item 12: GET /message/conversation pages, newest first, with keyset cursors."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from simulator.imrest import ImRestSimulator, RecipientBehaviour
from tests.simulator_imrest.conftest import Api


@pytest.fixture
def chat(
    make_sim: Callable[..., ImRestSimulator], make_api: Callable[[ImRestSimulator], Api]
) -> tuple[ImRestSimulator, Api, list[int]]:
    """Seven messages from the sender to one user, and one from the user back in the middle."""
    sim = make_sim(behaviour=RecipientBehaviour(online=False))
    api = make_api(sim)
    user = sim.user_ids[0]
    ids = [api.send([user], content=f"m{n}")["msg_ids"][0] for n in range(4)]
    ids += api.send([sim.sender_id], content="reply", token=sim.user_token(user))["msg_ids"]
    ids += [api.send([user], content=f"m{n}")["msg_ids"][0] for n in range(4, 7)]
    api.send([sim.user_ids[1]])  # another conversation, never shown here
    return sim, api, ids


def walk(api: Api, viewer: int, opposite: int, limit: int) -> list[list[int]]:
    pages, start = [], 0
    while True:
        data = api.page(viewer, opposite, start=start, limit=limit)["data"]
        pages.append([m["msg_id"] for m in data["messages"]])
        if data["is_last"]:
            assert data["next_msg_id"] == 0
            return pages
        start = data["next_msg_id"]


def test_pages_go_from_newest_to_oldest_without_gaps_or_repeats(
    chat: tuple[ImRestSimulator, Api, list[int]],
) -> None:
    sim, api, ids = chat
    pages = walk(api, sim.sender_id, sim.user_ids[0], limit=3)
    assert [len(page) for page in pages] == [3, 3, 2]
    assert [msg_id for page in pages for msg_id in page] == sorted(ids, reverse=True)
    # The recipient's view of the same conversation holds the same messages.
    assert walk(api, sim.user_ids[0], sim.sender_id, limit=8) == [sorted(ids, reverse=True)]


def test_next_msg_id_is_the_next_older_message(
    chat: tuple[ImRestSimulator, Api, list[int]],
) -> None:
    sim, api, ids = chat
    data = api.page(sim.sender_id, sim.user_ids[0], limit=2)["data"]
    assert data["next_msg_id"] == sorted(ids)[-3] and data["is_last"] is False


def test_msg_id_start_is_inclusive_by_default(chat: tuple[ImRestSimulator, Api, list[int]]) -> None:
    sim, api, ids = chat
    data = api.page(sim.sender_id, sim.user_ids[0], start=ids[3], limit=2)["data"]
    assert [m["msg_id"] for m in data["messages"]] == [ids[3], ids[2]]


@pytest.mark.parametrize(("paging", "second_page"), [("exclusive", [1, 0]), ("overlap", [2, 1])])
def test_the_other_cursor_styles_lose_nothing(
    make_sim: Callable[..., ImRestSimulator],
    make_api: Callable[[ImRestSimulator], Api],
    paging: str,
    second_page: list[int],
) -> None:
    sim = make_sim(paging=paging)
    api = make_api(sim)
    ids = [api.send([sim.user_ids[0]])["msg_ids"][0] for _ in range(4)]
    first = api.page(sim.sender_id, sim.user_ids[0], limit=2)["data"]
    assert [m["msg_id"] for m in first["messages"]] == [ids[3], ids[2]]
    assert first["next_msg_id"] == ids[2]  # the oldest message returned
    second = api.page(sim.sender_id, sim.user_ids[0], start=first["next_msg_id"], limit=2)["data"]
    assert [m["msg_id"] for m in second["messages"]] == [ids[i] for i in second_page]


def test_new_messages_do_not_shift_older_pages(
    chat: tuple[ImRestSimulator, Api, list[int]],
) -> None:
    sim, api, ids = chat
    first = api.page(sim.sender_id, sim.user_ids[0], limit=3)["data"]
    for _ in range(5):
        api.send([sim.user_ids[0]], content="newer")
    second = api.page(sim.sender_id, sim.user_ids[0], start=first["next_msg_id"], limit=3)["data"]
    assert [m["msg_id"] for m in second["messages"]] == sorted(ids, reverse=True)[3:6]


def test_the_message_object_has_every_field_of_the_seed(
    chat: tuple[ImRestSimulator, Api, list[int]],
) -> None:
    sim, api, ids = chat
    [message] = api.page(sim.sender_id, sim.user_ids[0], limit=1)["data"]["messages"]
    assert set(message) == {
        "msg_id",
        "from_xid",
        "to_xid",
        "ctype",
        "content",
        "attachment",
        "config",
        "ext",
        "status",
        "timestamp",
    }
    assert message["content"] == "m6" and message["status"] == "UNREAD"
    assert isinstance(message["timestamp"], int) and message["timestamp"] > 1_600_000_000_000


def test_an_empty_conversation_is_one_last_page(api: Api, sim: ImRestSimulator) -> None:
    assert api.page(sim.sender_id, sim.user_ids[5])["data"] == {
        "is_last": True,
        "next_msg_id": 0,
        "messages": [],
    }


@pytest.mark.parametrize(
    "params",
    [
        {"limit": 0, "msg_id_start": 0},
        {"limit": 101, "msg_id_start": 0},
        {"msg_id_start": 0},
        {"limit": 10},
        {"limit": "ten", "msg_id_start": 0},
    ],
)
def test_bad_paging_parameters_are_10002(
    api: Api, sim: ImRestSimulator, params: dict[str, object]
) -> None:
    params = {**params, "opposite_id": sim.user_ids[0]}
    assert (
        api.json("GET", "/message/conversation", params=params, user_id=sim.sender_id)["code"]
        == 10002
    )


def test_unknown_opposites(api: Api, sim: ImRestSimulator) -> None:
    params = {"limit": 5, "msg_id_start": 0, "opposite_id": 12345}
    assert (
        api.json("GET", "/message/conversation", params=params, user_id=sim.sender_id)["code"]
        == 10000
    )
    params["opposite_id"] = sim.foreign_group_ids[0]
    assert (
        api.json("GET", "/message/conversation", params=params, user_id=sim.sender_id)["code"]
        == 20002
    )
