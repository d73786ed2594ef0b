"""The stats an end-to-end test checks a client against: faults with dedup, copies per user,
the exact rolling request count, and the true delivered and read rates of seeded recipients."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import requests

from simulator.imrest import ImRestSimulator, RecipientBehaviour
from simulator.imrest.stats import Stats
from tests.imrest_support import eventually
from tests.simulator_imrest.conftest import Api

FAULT_MIX: dict[str, Any] = {
    "drop_rate": 0.2,
    "server_error_rate": 0.1,
    "codes": {20000: 0.1},
    "seed": 7,
}


def send_until_accepted(api: Api, targets: list[int], transaction_id: int) -> int:
    """Retry one batch with the same transaction_id, as blazecast's client does; attempts made."""
    for attempt in range(1, 50):
        try:
            response = api.call(
                "POST",
                "/message/send",
                body={
                    "targets": targets,
                    "type": 1,
                    "content_type": 0,
                    "content": "maintenance tonight",
                    "transaction_id": transaction_id,
                },
                timeout=2.0,
            )
        except requests.ConnectionError:
            continue  # a dropped reply: executed or not, the same id is safe to send again
        if response.status_code == 200 and response.json()["code"] == 200:
            return attempt
    raise AssertionError("the batch was never accepted")


def broadcast(api: Api, users: list[int], batch: int = 10) -> int:
    attempts = 0
    for index in range(0, len(users), batch):
        attempts += send_until_accepted(api, users[index : index + batch], 1000 + index)
    return attempts


def test_with_drops_and_5xx_every_user_sees_the_message_once_and_dedup_counts_the_drops(
    make_sim: Callable[..., ImRestSimulator], make_api: Callable[[ImRestSimulator], Api]
) -> None:
    sim = make_sim(users=200)
    sim.set_faults(**FAULT_MIX)
    attempts = broadcast(make_api(sim), sim.user_ids)
    stats = sim.stats()
    injected = stats["faults_injected"]
    assert injected["drop"] > 0 and injected["server_error"] > 0 and injected["code_20000"] > 0
    assert attempts == 20 + sum(injected.values())
    assert stats["per_user"] == {
        "users": 200,
        "users_visible": 200,
        "copies": {"1": 200},
        "duplicated": 0,
    }
    # Every dropped reply executed the batch; its retry was suppressed, and counted, once.
    assert stats["dedup"]["hits"] == injected["drop"]
    assert stats["messages_created"] == 200 and stats["executed_sends"] == {"send": 20}


def test_without_dedup_the_same_faults_show_as_duplicate_copies(
    make_sim: Callable[..., ImRestSimulator], make_api: Callable[[ImRestSimulator], Api]
) -> None:
    sim = make_sim(users=200, dedup_window_seconds=0)
    sim.set_faults(**FAULT_MIX)
    broadcast(make_api(sim), sim.user_ids)
    per_user = sim.stats()["per_user"]
    drops = sim.stats()["faults_injected"]["drop"]
    assert per_user["duplicated"] > 0 and per_user["copies"]["1"] < 200
    assert sim.stats()["messages_created"] == 200 + 10 * drops


def test_the_largest_rolling_window_count_is_exact() -> None:
    stats = Stats(log_size=10, window_seconds=1.0)
    for at, operation in [(0.0, "send"), (0.5, "send"), (0.9, "conversation"), (1.4, "send")]:
        stats.request(operation, 10, at)
    stats.request("send", 10, 1.95)
    window = stats.snapshot()["requests_window"]
    # (0.0, 1.0] holds 0.5 and 0.9 plus 0.0 at its open end: 3; (0.95, 1.95] holds 1.4, 1.95.
    assert window == {
        "seconds": 1.0,
        "largest": 3,
        "largest_by_operation": {"conversation": 1, "send": 2},
    }


def test_refused_requests_spend_the_window_and_429s_are_counted(
    make_sim: Callable[..., ImRestSimulator], make_api: Callable[[ImRestSimulator], Api]
) -> None:
    sim = make_sim(rate_limit_per_second=0.5, rate_limit_burst=2)
    api = make_api(sim)
    codes = [
        api.call("GET", "/message/unread", user_id=sim.user_ids[0]).status_code for _ in range(5)
    ]
    assert codes == [200, 200, 429, 429, 429]
    stats = sim.stats()
    assert stats["rate_limited_429"] == 3
    assert stats["requests_window"]["largest"] == 5
    assert stats["requests_window"]["largest_by_operation"] == {"unread": 5}


def test_seeded_recipients_deliver_and_read_at_their_rates(
    make_sim: Callable[..., ImRestSimulator], make_api: Callable[[ImRestSimulator], Api]
) -> None:
    behaviour = RecipientBehaviour(
        delivery_delay=0.05,
        read_delay=0.1,
        delivery_probability=0.8,
        read_probability=0.5,
        spread=0.5,
    )
    truths = []
    for seed in (1, 1, 2):
        sim = make_sim(users=1000, behaviour=behaviour, seed=seed)
        broadcast(make_api(sim), sim.user_ids, batch=100)
        eventually(lambda sim=sim: _settled(sim), timeout=5)
        truths.append(sim.stats()["status_truth"])
    first, again, other = truths
    assert first == again and first != other  # the seed decides, not the arrival order
    eventual = first["eventual"]
    assert first["messages"] == 1000 and sum(eventual.values()) == 1000
    # 1000 draws: delivered ~ 800 (sd 13), read ~ 400 (sd 15).
    assert 740 <= eventual["DELIVERED"] + eventual["READ"] <= 860
    assert 340 <= eventual["READ"] <= 460


def _settled(sim: ImRestSimulator) -> bool:
    """Every message has reached the status its fate planned."""
    truth = sim.stats()["status_truth"]
    return bool(truth["now"] == truth["eventual"])


def test_a_message_walks_unread_delivered_read_over_time(
    make_sim: Callable[..., ImRestSimulator], make_api: Callable[[ImRestSimulator], Api]
) -> None:
    sim = make_sim(
        users=40,
        behaviour=RecipientBehaviour(
            delivery_delay=0.3, read_delay=0.3, delivery_probability=0.9, read_probability=0.6
        ),
    )
    broadcast(make_api(sim), sim.user_ids)
    seen: dict[int, list[str]] = {user: [] for user in sim.user_ids}

    def settled() -> bool:
        for user in sim.user_ids:
            [state] = sim.messages_to(user)
            if not seen[user] or seen[user][-1] != state["status"]:
                seen[user].append(state["status"])
        return _settled(sim)

    eventually(settled, timeout=5)
    walks = {tuple(walk) for walk in seen.values()}
    assert walks <= {("UNREAD",), ("UNREAD", "DELIVERED"), ("UNREAD", "DELIVERED", "READ")}
    assert ("UNREAD", "DELIVERED", "READ") in walks


def test_recall_removes_the_message_from_every_recipients_view(
    make_sim: Callable[..., ImRestSimulator], make_api: Callable[[ImRestSimulator], Api]
) -> None:
    sim = make_sim(users=12)
    api = make_api(sim)
    for user in sim.user_ids:
        [msg_id] = api.send([user])["msg_ids"]
        recalled = api.json(
            "POST",
            "/message/recall",
            body={"conversation_id": user, "msg_id": msg_id},
            user_id=sim.sender_id,
        )
        assert recalled["code"] == 200
        assert api.page(user, sim.sender_id)["data"]["messages"] == []
    stats = sim.stats()
    assert stats["per_user"]["users"] == 12 and stats["per_user"]["users_visible"] == 0
    assert stats["status_truth"]["messages"] == 0 and stats["messages"]["recalled"] == 12


@pytest.mark.parametrize("name", ["delivery_probability", "read_probability", "spread"])
def test_probabilities_outside_0_1_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match=name):
        RecipientBehaviour(**{name: 1.5})
