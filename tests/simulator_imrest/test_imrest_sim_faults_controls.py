"""Checklist items 15–17: faults, the optional 429 bucket, /_sim controls, and the CLI."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable

import pytest
import requests

from simulator.imrest import ImRestSimulator
from tests.simulator_imrest.conftest import Api


def test_server_error_is_a_bare_500_and_executes_nothing(api: Api, sim: ImRestSimulator) -> None:
    sim.set_faults(server_error_rate=1.0)
    response = api.call(
        "POST",
        "/message/send",
        body={"targets": [sim.user_ids[0]], "type": 1, "content_type": 0, "content": "x"},
    )
    assert response.status_code == 500 and response.headers["Content-Type"].startswith("text/html")
    assert sim.stats()["messages_created"] == 0 and sim.stats()["faults_injected"] == {
        "server_error": 1
    }


def test_a_slow_reply_executes_and_answers_late(api: Api, sim: ImRestSimulator) -> None:
    sim.set_faults(slow_rate=1.0, slow_seconds=1.0)
    with pytest.raises(requests.Timeout):
        api.send([sim.user_ids[0]], transaction_id=5, timeout=0.3)
    assert len(sim.messages_to(sim.user_ids[0])) == 1


def test_execute_then_drop(api: Api, sim: ImRestSimulator) -> None:
    sim.set_faults(drop_rate=1.0, limit=1)
    with pytest.raises(requests.ConnectionError):
        api.send([sim.user_ids[0]], transaction_id=5)
    assert len(sim.messages_to(sim.user_ids[0])) == 1
    assert api.send([sim.user_ids[0]], transaction_id=5)["code"] == 200  # limit 1: answered now
    assert len(sim.messages_to(sim.user_ids[0])) == 1  # and deduplicated
    assert sim.requests()[0]["fault"] == "drop" and sim.requests()[0]["http_status"] == 0


def test_an_arbitrary_code_and_data_false_execute_nothing(api: Api, sim: ImRestSimulator) -> None:
    sim.set_faults(codes={20000: 1.0})
    assert api.send([sim.user_ids[0]]) == {"code": 20000, "data": None, "message": "injected fault"}
    sim.set_faults(data_false_rate=1.0)
    assert api.send([sim.user_ids[0]]) == {"code": 200, "data": False, "message": None}
    assert sim.messages_to(sim.user_ids[0]) == []


def test_faults_hit_only_the_plans_endpoints(api: Api, sim: ImRestSimulator) -> None:
    sim.set_faults(server_error_rate=1.0, endpoints=["conversation"])
    assert api.send([sim.user_ids[0]])["code"] == 200
    assert (
        api.call(
            "GET",
            "/message/conversation",
            params={"limit": 1, "msg_id_start": 0, "opposite_id": sim.user_ids[0]},
            user_id=sim.sender_id,
        ).status_code
        == 500
    )


def test_rates_draw_repeatably_from_the_seed(
    make_sim: Callable[..., ImRestSimulator], make_api: Callable[[ImRestSimulator], Api]
) -> None:
    outcomes = []
    for _ in range(2):
        sim = make_sim(users=5)
        sim.set_faults(codes={20000: 0.5}, seed=3)
        api = make_api(sim)
        outcomes.append([api.send([sim.user_ids[0]])["code"] for _ in range(20)])
    assert outcomes[0] == outcomes[1] and set(outcomes[0]) == {200, 20000}


def test_the_rate_limit_answers_429_with_retry_after(
    make_sim: Callable[..., ImRestSimulator], make_api: Callable[[ImRestSimulator], Api]
) -> None:
    sim = make_sim(rate_limit_per_second=0.5, rate_limit_burst=2)
    api = make_api(sim)
    codes = [api.call("GET", "/message/unread", user_id=sim.user_ids[0]) for _ in range(3)]
    assert [r.status_code for r in codes] == [200, 200, 429]
    assert codes[2].json() == {"code": 429, "data": None, "message": "Too many requests"}
    assert codes[2].headers["Retry-After"] in ("1", "2")  # whole seconds, rounded up
    assert sim.stats()["rate_limited_429"] == 1


def test_stats_requests_and_reset_over_http(api: Api, sim: ImRestSimulator) -> None:
    api.send([sim.user_ids[0]], transaction_id=3)
    api.send([sim.user_ids[0]], transaction_id=3)
    api.call("GET", "/message/unread", token="bad")
    stats = api.session.get(sim.base_url + "/_sim/stats").json()
    assert stats["requests"] == {"send": 2, "unread": 1}
    assert stats["codes"] == {"200": 2, "10008": 1}
    assert stats["dedup"]["hits"] == 1 and stats["messages"]["total"] == 1
    log = api.session.get(sim.base_url + "/_sim/requests").json()
    assert [(entry["path"], entry["code"]) for entry in log] == [
        ("/message/send", 200),
        ("/message/send", 200),
        ("/message/unread", 10008),
    ]
    assert all("bad" not in str(entry) for entry in log)
    assert api.session.post(sim.base_url + "/_sim/reset").json() == {"reset": True}
    after = sim.stats()
    assert after["requests"] == {} and after["messages"]["total"] == 1  # messages are not counters


def test_faults_over_http_are_validated(api: Api, sim: ImRestSimulator) -> None:
    url = sim.base_url + "/_sim/faults"
    assert api.session.post(url, json={"drop_rate": 2}).status_code == 400
    assert "unknown key" in api.session.post(url, json={"drops": 1}).json()["error"]
    assert api.session.post(url, json={"endpoints": ["everything"]}).status_code == 400
    assert api.session.post(url, json={"drop_rate": 0.5, "limit": 3}).json()["limit"] == 3
    assert api.session.get(url).json()["drop_rate"] == 0.5
    assert api.session.post(url, data=b"").json()["drop_rate"] == 0.0  # empty clears


def test_test_hooks_over_http(api: Api, sim: ImRestSimulator) -> None:
    sim.set_recipient(sim.user_ids[0], online=False)
    [msg_id] = api.send([sim.user_ids[0]])["msg_ids"]
    hook = api.session.post(
        f"{sim.base_url}/_sim/messages/{msg_id}/status", json={"status": "DELIVERED"}
    )
    assert hook.json()["status"] == "DELIVERED"
    assert api.session.get(f"{sim.base_url}/_sim/messages/{msg_id + 1}").status_code == 404
    bad = api.session.post(
        f"{sim.base_url}/_sim/recipients/{sim.user_ids[0]}", json={"asleep": True}
    )
    assert bad.status_code == 400
    changed = api.session.post(
        f"{sim.base_url}/_sim/recipients/{sim.user_ids[0]}", json={"read_delay": None}
    )
    assert changed.json() == {
        "online": False,
        "delivery_delay": 0.02,
        "read_delay": None,
        "delivery_probability": 1.0,
        "read_probability": 1.0,
        "spread": 0.0,
    }


def test_the_cli_prints_what_a_client_needs_and_stops_on_sigterm(tmp_path: object) -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "simulator.imrest", "--port", "0", "--users", "3"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline() for _ in range(5)]
        fields = dict(line.split(":", 1) for line in lines)
        url = fields["IM REST API"].strip()
        token = fields["Admin token"].strip()
        app_id = fields["App id"].strip()
        reply = requests.get(
            url + "/message/unread",
            headers={"app_id": app_id, "access-token": token, "user_id": "1099511627002"},
            timeout=5,
        )
        assert reply.json() == {"code": 200, "data": [], "message": None}
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=20)
    assert process.returncode == 0, err
    assert "simulator stopped" in out
