"""Checklist items 9–11: simulated recipients, /message/ack, and one status seen from both sides."""

from __future__ import annotations

import time
from collections.abc import Callable

from simulator.imrest import ImRestSimulator, RecipientBehaviour
from tests.imrest_support import eventually
from tests.simulator_imrest.conftest import Api


def status_seen_by(api: Api, viewer: int, opposite: int, msg_id: int) -> str:
    [message] = [m for m in api.page(viewer, opposite)["data"]["messages"] if m["msg_id"] == msg_id]
    return str(message["status"])


def test_an_online_recipient_delivers_then_reads(
    make_sim: Callable[..., ImRestSimulator], make_api: Callable[[ImRestSimulator], Api]
) -> None:
    sim = make_sim(behaviour=RecipientBehaviour(delivery_delay=0.6, read_delay=0.6))
    api = make_api(sim)
    [msg_id] = api.send([sim.user_ids[0]], from_user_id=sim.sender_id)["msg_ids"]
    assert sim.message(msg_id)["status"] == "UNREAD"
    eventually(lambda: sim.message(msg_id)["status"] == "DELIVERED", timeout=2)
    eventually(lambda: sim.message(msg_id)["status"] == "READ", timeout=2)


def test_both_sides_see_the_same_status(api: Api, sim: ImRestSimulator) -> None:
    user = sim.user_ids[0]
    [msg_id] = api.send([user], from_user_id=sim.sender_id)["msg_ids"]
    eventually(lambda: sim.message(msg_id)["status"] == "READ")
    assert status_seen_by(api, sim.sender_id, user, msg_id) == "READ"
    assert status_seen_by(api, user, sim.sender_id, msg_id) == "READ"


def test_an_offline_recipient_changes_nothing_until_it_comes_online(
    api: Api, sim: ImRestSimulator
) -> None:
    user = sim.user_ids[0]
    sim.set_recipient(user, online=False)
    [msg_id] = api.send([user])["msg_ids"]
    time.sleep(0.3)  # several times the fast delays
    assert sim.message(msg_id)["status"] == "UNREAD"
    sim.set_recipient(user, online=True)
    eventually(lambda: sim.message(msg_id)["status"] == "READ")


def test_a_recipient_who_never_reads_stops_at_delivered(
    make_sim: Callable[..., ImRestSimulator], make_api: Callable[[ImRestSimulator], Api]
) -> None:
    sim = make_sim(behaviour=RecipientBehaviour.fast(reads=False))
    [msg_id] = make_api(sim).send([sim.user_ids[0]])["msg_ids"]
    eventually(lambda: sim.message(msg_id)["status"] == "DELIVERED")
    time.sleep(0.2)
    assert sim.message(msg_id)["status"] == "DELIVERED"


def test_per_user_behaviour_from_the_config(
    make_sim: Callable[..., ImRestSimulator], make_api: Callable[[ImRestSimulator], Api]
) -> None:
    offline = 1099511627003
    sim = make_sim(behaviours={offline: RecipientBehaviour(online=False)})
    api = make_api(sim)
    [first] = api.send([sim.user_ids[0]])["msg_ids"]
    [second] = api.send([offline])["msg_ids"]
    eventually(lambda: sim.message(first)["status"] == "READ")
    assert sim.message(second)["status"] == "UNREAD"


def test_ack_reads_the_message_and_older_ones(
    make_sim: Callable[..., ImRestSimulator], make_api: Callable[[ImRestSimulator], Api]
) -> None:
    sim = make_sim(behaviour=RecipientBehaviour(online=False))
    api = make_api(sim)
    user = sim.user_ids[0]
    ids = [api.send([user], content=f"m{n}")["msg_ids"][0] for n in range(3)]
    params = {"conversation_id": sim.sender_id, "msg_id": ids[1], "device_sn": 1}
    assert api.json("GET", "/message/ack", params=params, user_id=user) == {
        "code": 200,
        "data": True,
        "message": None,
    }
    assert [sim.message(msg_id)["status"] for msg_id in ids] == ["READ", "READ", "UNREAD"]
    assert status_seen_by(api, sim.sender_id, user, ids[1]) == "READ"


def test_ack_without_marking_older(
    make_sim: Callable[..., ImRestSimulator], make_api: Callable[[ImRestSimulator], Api]
) -> None:
    sim = make_sim(behaviour=RecipientBehaviour(online=False), ack_marks_older=False)
    api = make_api(sim)
    user = sim.user_ids[0]
    ids = [api.send([user], content=f"m{n}")["msg_ids"][0] for n in range(2)]
    api.json("GET", "/message/ack", params={"msg_id": ids[1]}, user_id=user)
    assert [sim.message(msg_id)["status"] for msg_id in ids] == ["UNREAD", "READ"]


def test_ack_of_a_whole_conversation_and_its_refusals(
    make_sim: Callable[..., ImRestSimulator], make_api: Callable[[ImRestSimulator], Api]
) -> None:
    sim = make_sim(behaviour=RecipientBehaviour(online=False))
    api = make_api(sim)
    user, other = sim.user_ids[0], sim.user_ids[1]
    ids = [api.send([user], content=f"m{n}")["msg_ids"][0] for n in range(2)]
    assert (
        api.json("GET", "/message/ack", params={"msg_id": ids[0]}, user_id=other)["code"] == 10002
    )
    assert (
        api.json(
            "GET", "/message/ack", params={"msg_id": ids[0], "conversation_id": other}, user_id=user
        )["code"]
        == 10002
    )
    assert api.json("GET", "/message/ack", params={}, user_id=user)["code"] == 10002
    assert api.json("GET", "/message/ack", params={"msg_id": "x"}, user_id=user)["code"] == 10002
    assert (
        api.json("GET", "/message/ack", params={"conversation_id": sim.sender_id}, user_id=user)[
            "code"
        ]
        == 200
    )
    assert [sim.message(msg_id)["status"] for msg_id in ids] == ["READ", "READ"]


def test_status_never_goes_back(
    make_sim: Callable[..., ImRestSimulator], make_api: Callable[[ImRestSimulator], Api]
) -> None:
    sim = make_sim(behaviour=RecipientBehaviour(online=False))
    [msg_id] = make_api(sim).send([sim.user_ids[0]])["msg_ids"]
    assert sim.set_status(msg_id, "READ")["status"] == "READ"
    assert sim.set_status(msg_id, "DELIVERED")["status"] == "READ"
    sim.set_recipient(sim.user_ids[0], online=True)
    time.sleep(0.1)
    assert sim.message(msg_id)["status"] == "READ"
