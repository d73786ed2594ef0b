"""`/_sim/` endpoints, the users file, and the `blazecast simulator` command."""

from __future__ import annotations

import csv
import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import requests
from click.testing import CliRunner

from simulator import Simulator
from simulator.cli import simulator_command
from tests.simulator.conftest import read_keystore
from tests.simulator.wire_client import BlazeSocket, HttpApi, sign_token, text_message

# The keys other engineers assert on (issue 4).
DOCUMENTED_STATS_KEYS = {
    "messages_accepted", "distinct_message_ids", "duplicate_message_ids", "visible_messages", "largest_batch",
    "largest_body_bytes", "max_rolling_60s", "max_rolling_60s_by_bot", "rate_limited_429", "errors_sent",
    "receipts_sent", "messages_delivered", "messages_read", "accepted_per_second", "requests", "forbidden_403",
}


def test_stats_over_http_match_the_python_api(connect: Callable[..., BlazeSocket], api: HttpApi, sim: Simulator) -> None:
    connect().call("CREATE_PLAIN_MESSAGES", {"messages": [text_message(sim.bot_id, sim.user_ids[0])]})
    api.request("POST", "/messages", [text_message(sim.bot_id, sim.user_ids[1])])
    deadline = time.monotonic() + 5
    while sim.stats()["messages_read"] < 2 and time.monotonic() < deadline:
        time.sleep(0.02)  # let the receipts settle, so that both reads see the same counters
    over_http = requests.get(f"{sim.http_url}/_sim/stats", timeout=5).json()
    direct = sim.stats()
    assert set(over_http) >= DOCUMENTED_STATS_KEYS
    for key in DOCUMENTED_STATS_KEYS:
        assert over_http[key] == direct[key], key
    assert over_http["requests"] == {"blaze": 1, "http": 1}
    assert sum(count for _, count in over_http["accepted_per_second"]) == 2
    assert all(isinstance(second, int) for second, _ in over_http["accepted_per_second"])


def test_reset_clears_counters_but_not_idempotency(api: HttpApi, sim: Simulator) -> None:
    message = text_message(sim.bot_id, sim.user_ids[0])
    api.request("POST", "/messages", [message])
    assert requests.post(f"{sim.http_url}/_sim/reset", timeout=5).json() == {"reset": True}
    stats = sim.stats()
    assert (stats["messages_accepted"], stats["max_rolling_60s"], stats["requests"]["http"]) == (0, 0, 0)
    api.request("POST", "/messages", [message])
    stats = sim.stats()
    assert (stats["duplicate_message_ids"], stats["visible_messages"]) == (1, 0)


def test_message_state_endpoint(api: HttpApi, sim: Simulator) -> None:
    message = text_message(sim.bot_id, sim.user_ids[0])
    url = f"{sim.http_url}/_sim/messages/{message['message_id']}"
    assert requests.get(url, timeout=5).status_code == 404
    api.request("POST", "/messages", [message])
    state = requests.get(url, timeout=5).json()
    assert state["recipient_id"] == sim.user_ids[0] and state["category"] == "PLAIN_TEXT"
    assert state["state"] in ("SENT", "DELIVERED", "READ") and state["times_sent"] == 1
    assert state["accepted_at"].endswith("Z") and state["recalled"] is False


def test_users_file_with_traits(make_sim: Callable[..., Simulator], tmp_path: Path) -> None:
    users = tmp_path / "users.csv"
    users.write_text(
        "user_id,blocked\n"
        "d1e9ec7e-199d-4578-91a0-a69d9a7ba048,yes\n"
        "965e5c6e-434c-3fa9-b780-c50f43cd955c,\n"
    )
    sim = make_sim(users_file=users)
    assert sim.user_ids == ["d1e9ec7e-199d-4578-91a0-a69d9a7ba048", "965e5c6e-434c-3fa9-b780-c50f43cd955c"]
    with HttpApi(sim.http_url, read_keystore(sim)) as api:
        assert api.request("POST", "/messages", [text_message(sim.bot_id, sim.user_ids[0])]).json()["error"]["code"] == 403
        assert api.request("POST", "/messages", [text_message(sim.bot_id, sim.user_ids[1])]).json() == {}
    assert requests.get(f"{sim.http_url}/_sim/users/{sim.user_ids[0]}", timeout=5).json()["blocked"] is True


def test_same_seed_same_bot_and_users(make_sim: Callable[..., Simulator]) -> None:
    first, second, other = make_sim(seed=5, users=3), make_sim(seed=5, users=3), make_sim(seed=6, users=3)
    assert (first.bot_id, first.user_ids) == (second.bot_id, second.user_ids)
    assert first.bot_id != other.bot_id and first.user_ids != other.user_ids


def test_help_shows_an_example() -> None:
    result = CliRunner().invoke(simulator_command, ["--help"])
    assert result.exit_code == 0
    assert "Example" in result.output and "--users-out" in result.output and "--faults" in result.output


def test_bad_fault_spec_is_one_clear_error() -> None:
    result = CliRunner().invoke(simulator_command, ["--port", "0", "--faults", '{"error_rate": {"500": 3}}'])
    assert result.exit_code == 2
    assert "error_rate.500 must be between 0 and 1" in result.output


def test_command_prints_urls_serves_and_stops_on_sigterm(tmp_path: Path) -> None:
    keystore_path, users_path = tmp_path / "keys" / "keystore.json", tmp_path / "users.csv"
    command = [sys.executable, "-m", "simulator", "--port", "0", "--users", "7", "--fast",
               "--keystore-out", str(keystore_path), "--users-out", str(users_path)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        printed: dict[str, str] = {}
        for line in process.stdout:
            label, _, value = line.partition(":")
            printed[label.strip()] = value.strip()
            if label == "Stats":
                break
        http_url, blaze_url = printed["HTTP API"], printed["Blaze"]
        assert Path(printed["Keystore"]) == keystore_path
        keystore = json.loads(keystore_path.read_text())
        assert keystore_path.stat().st_mode & 0o077 == 0  # readable by its owner only
        with HttpApi(http_url, keystore) as api:
            assert api.request("GET", "/me").json()["data"]["user_id"] == keystore["app_id"]
        with BlazeSocket(blaze_url, token=sign_token(keystore)) as socket:
            assert "error" not in socket.call("LIST_PENDING_MESSAGES")
        rows = list(csv.DictReader(users_path.read_text().splitlines()))
        assert len(rows) == 7 and all(len(row["user_id"]) == 36 for row in rows)
        process.send_signal(signal.SIGTERM)
        output, errors = process.communicate(timeout=20)
        assert process.returncode == 0, errors
        assert "simulator stopped" in output
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
