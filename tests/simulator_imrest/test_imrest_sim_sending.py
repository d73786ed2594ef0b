"""Checklist items 4, 5, 7 and 8: validation, target checks, message creation, msg_ids."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from simulator.imrest import ImRestSimulator
from tests.simulator_imrest.conftest import Api

USER = 1099511627002
POSTER = json.dumps(
    {"url": "https://files.example.com/poster.jpg", "dName": "poster.jpg", "fLen": 508728}
)


def body(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"targets": [USER], "type": 1, "content_type": 0, "content": "hi"}
    base.update(overrides)
    return {name: value for name, value in base.items() if value is not ...}


@pytest.mark.parametrize(
    ("sent", "field"),
    [
        (body(targets=...), "targets"),
        (body(type=...), "type"),
        (body(content_type=...), "content_type"),
        (body(content=...), "content"),
        (body(type=3), "type"),
        (body(type="1"), "type"),
        (body(content_type=8), "content_type"),
        (body(content_type=9), "content_type"),
        (body(content_type=-1), "content_type"),
        (body(targets=[]), "targets"),
        (body(targets=str(USER)), "targets"),
        (body(targets=[str(USER)]), "targets[0]"),
        (body(targets=[1099511627002.0]), "targets[0]"),
        (body(targets=[True]), "targets[0]"),
        (body(content=5), "content"),
        (body(content_type=1), "attachment"),
        (body(content_type=2, attachment='{"dName": "a.amr"}'), "attachment"),
        (body(content_type=3, attachment="https://x/video.mp4"), "attachment"),
        (body(content_type=4, attachment={"url": "https://x/f"}), "attachment"),
        (body(transaction_id="7"), "transaction_id"),
        (body(from_user_id=-5), "from_user_id"),
        (body(ext={"blazecast": 1}), "ext"),
        ([body()], "body"),
    ],
)
def test_each_violation_is_10002_naming_the_field(
    api: Api, sim: ImRestSimulator, sent: Any, field: str
) -> None:
    envelope = api.json("POST", "/message/send", body=sent)
    assert envelope["code"] == 10002, envelope
    assert field in envelope["message"]
    assert sim.stats()["messages_created"] == 0


def test_a_body_that_is_not_json_is_10002(api: Api) -> None:
    envelope = api.json("POST", "/message/send", raw=b"{not json")
    assert envelope["code"] == 10002 and "body" in envelope["message"]


def test_target_count_and_body_size_limits(api: Api, sim: ImRestSimulator) -> None:
    too_many = api.json("POST", "/message/send", body=body(targets=list(range(1, 102))))
    assert too_many["code"] == 10002 and "at most 100" in too_many["message"]
    overhead = len(json.dumps(body(content="")).encode())
    fits = api.json("POST", "/message/send", body=body(content="x" * (128 * 1024 - overhead)))
    assert fits["code"] == 200
    over = api.json("POST", "/message/send", body=body(content="x" * (128 * 1024 - overhead + 1)))
    assert over["code"] == 10002 and "body" in over["message"]


def test_attachment_rules_and_their_switches(
    make_sim: Callable[..., ImRestSimulator], make_api: Callable[[ImRestSimulator], Api]
) -> None:
    api = make_api(make_sim())
    assert (
        api.json("POST", "/message/send", body=body(content_type=1, attachment=POSTER))["code"]
        == 200
    )
    assert api.json("POST", "/message/send", body=body())["code"] == 200  # TEXT needs none
    strict = make_api(make_sim(strict_attachment=True))
    assert strict.json("POST", "/message/send", body=body())["code"] == 10002
    zh = make_api(make_sim(zh_content_types=True))
    assert zh.json("POST", "/message/send", body=body(content_type=10))["code"] == 200
    assert zh.json("POST", "/message/send", body=body(content_type=8))["code"] == 10002


def test_unknown_user_targets_are_10000_and_nothing_is_sent(api: Api, sim: ImRestSimulator) -> None:
    envelope = api.send([sim.user_ids[0], 999, sim.user_ids[1]])
    assert envelope["code"] == 10000 and "999" in envelope["message"]
    assert sim.messages_to(sim.user_ids[0]) == [] and sim.stats()["messages_created"] == 0


def test_an_unknown_sender_is_10000(api: Api) -> None:
    envelope = api.send([USER], from_user_id=77)
    assert envelope["code"] == 10000 and "77" in envelope["message"]


def test_partial_execution_switch_sends_to_the_valid_targets(
    make_sim: Callable[..., ImRestSimulator], make_api: Callable[[ImRestSimulator], Api]
) -> None:
    sim = make_sim(partial_execution=True)
    envelope = make_api(sim).send([sim.user_ids[0], 999])
    assert envelope["code"] == 10000
    assert len(sim.messages_to(sim.user_ids[0])) == 1


def test_group_sends(api: Api, sim: ImRestSimulator) -> None:
    group = sim.group_ids[0]
    ok = api.send([group], type=2, from_user_id=sim.sender_id)
    assert ok["code"] == 200
    unknown = api.send([group, 4503599627379999], type=2)
    assert unknown["code"] == 20001
    outside = api.send([sim.foreign_group_ids[0]], type=2)
    assert outside["code"] == 20002
    # A user id is not a group, and a group id is not a user.
    assert api.send([USER], type=2)["code"] == 20001
    assert api.send([group], type=1)["code"] == 10000
    page = api.page(sim.user_ids[0], group)  # the first user is a member of the first group
    [message] = page["data"]["messages"]
    assert message["to_xid"]["uid"] == group and message["from_xid"]["uid"] == sim.sender_id


def test_each_target_gets_one_message_stored_verbatim(api: Api, sim: ImRestSimulator) -> None:
    ext = '{"blazecast":{"announcement_id":"a","transaction_id":5}}'
    sent = api.send(
        sim.user_ids[:3] + [sim.user_ids[0]],
        content="Maintenance",
        ext=ext,
        config="cfg",
        from_user_id=sim.sender_id,
    )
    assert sent == {"code": 200, "data": True, "message": None}  # no msg_ids for several targets
    messages = [sim.messages_to(user) for user in sim.user_ids[:3]]
    assert [len(found) for found in messages] == [1, 1, 1]
    first = messages[0][0]
    assert (first["content"], first["ext"], first["config"], first["ctype"]) == (
        "Maintenance",
        ext,
        "cfg",
        "TEXT",
    )
    assert first["from_xid"] == {"uid": sim.sender_id, "device_sn": 0}
    ids = [found[0]["msg_id"] for found in messages]
    assert ids == sorted(ids) and len(set(ids)) == 3 and max(ids) <= 2**53 - 1
    later = api.send([sim.user_ids[0]])
    assert later["msg_ids"][0] > max(ids)  # increasing


def test_msg_ids_only_for_a_single_target(api: Api, sim: ImRestSimulator) -> None:
    single = api.send([sim.user_ids[0]])
    [msg_id] = single["msg_ids"]
    assert sim.message(msg_id)["to_xid"]["uid"] == sim.user_ids[0]
    assert "msg_ids" not in api.send(sim.user_ids[:2])


def test_msg_ids_never_switch(
    make_sim: Callable[..., ImRestSimulator], make_api: Callable[[ImRestSimulator], Api]
) -> None:
    sim = make_sim(msg_ids="never")
    assert "msg_ids" not in make_api(sim).send([sim.user_ids[0]])


def test_notify_and_put_send_like_post(api: Api, sim: ImRestSimulator) -> None:
    assert api.send([sim.user_ids[0]], endpoint="notify")["code"] == 200
    assert api.send([sim.user_ids[1]], method="PUT")["code"] == 200
    assert sim.stats()["executed_sends"] == {"notify": 1, "send": 1}
