"""Checklist item 6: a transaction_id repeated within the window is not executed twice."""

from __future__ import annotations

import time
from collections.abc import Callable

from simulator.imrest import ImRestSimulator
from tests.simulator_imrest.conftest import Api


def test_a_repeat_returns_the_original_reply_and_creates_nothing(
    api: Api, sim: ImRestSimulator
) -> None:
    first = api.send([sim.user_ids[0]], transaction_id=6195371454398710)
    again = api.send([sim.user_ids[0]], transaction_id=6195371454398710)
    assert again == first and again["msg_ids"]
    assert len(sim.messages_to(sim.user_ids[0])) == 1
    dedup = sim.stats()["dedup"]
    assert (dedup["hits"], dedup["misses"]) == (1, 1)


def test_without_transaction_id_nothing_is_deduplicated(api: Api, sim: ImRestSimulator) -> None:
    api.send(sim.user_ids[:2])
    api.send(sim.user_ids[:2])
    assert len(sim.messages_to(sim.user_ids[0])) == 2
    assert sim.stats()["dedup"]["without_transaction_id"] == 2


def test_the_scope_is_the_app_across_endpoints(api: Api, sim: ImRestSimulator) -> None:
    api.send(sim.user_ids[:2], transaction_id=42)
    assert api.send(sim.user_ids[:2], transaction_id=42, endpoint="notify")["code"] == 200
    assert len(sim.messages_to(sim.user_ids[0])) == 1
    # Another app's identical transaction_id is its own.
    other = api.send(
        sim.user_ids[:2],
        transaction_id=42,
        token=sim.other_app_token,
        app_id=sim.config.other_app_id,
    )
    assert other["code"] == 200
    assert len(sim.messages_to(sim.user_ids[0])) == 2


def test_a_repeat_with_another_body_is_deduplicated_by_default(
    api: Api, sim: ImRestSimulator
) -> None:
    api.send([sim.user_ids[0]], transaction_id=7)
    assert api.send([sim.user_ids[1]], transaction_id=7)["code"] == 200
    assert sim.messages_to(sim.user_ids[1]) == []
    assert sim.stats()["dedup"]["conflicts"] == 1


def test_the_reject_switch_refuses_a_conflicting_repeat(
    make_sim: Callable[..., ImRestSimulator], make_api: Callable[[ImRestSimulator], Api]
) -> None:
    sim = make_sim(dedup_conflict="reject")
    api = make_api(sim)
    api.send([sim.user_ids[0]], transaction_id=7)
    conflict = api.send([sim.user_ids[0]], content="changed", transaction_id=7)
    assert conflict["code"] == 10002 and "transaction_id" in conflict["message"]
    assert api.send([sim.user_ids[0]], transaction_id=7)["code"] == 200  # the same body is fine


def test_a_refused_request_is_not_remembered(api: Api, sim: ImRestSimulator) -> None:
    assert api.send([sim.user_ids[0], 999], transaction_id=9)["code"] == 10000
    assert api.send([sim.user_ids[0]], transaction_id=9)["code"] == 200
    assert len(sim.messages_to(sim.user_ids[0])) == 1


def test_the_window_expires(
    make_sim: Callable[..., ImRestSimulator], make_api: Callable[[ImRestSimulator], Api]
) -> None:
    sim = make_sim(dedup_window_seconds=0.8)
    api = make_api(sim)
    api.send([sim.user_ids[0]], transaction_id=11)
    api.send([sim.user_ids[0]], transaction_id=11)
    time.sleep(0.9)
    api.send([sim.user_ids[0]], transaction_id=11)
    assert len(sim.messages_to(sim.user_ids[0])) == 2
    dedup = sim.stats()["dedup"]
    assert (dedup["hits"], dedup["misses"]) == (1, 2)


def test_window_zero_disables_dedup(
    make_sim: Callable[..., ImRestSimulator], make_api: Callable[[ImRestSimulator], Api]
) -> None:
    sim = make_sim(dedup_window_seconds=0)
    api = make_api(sim)
    api.send([sim.user_ids[0]], transaction_id=11)
    api.send([sim.user_ids[0]], transaction_id=11)
    assert len(sim.messages_to(sim.user_ids[0])) == 2
