"""Documented limits: 100 messages and 128 KB per batch, the per-bot rolling quota (429)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import pytest

from simulator import Simulator
from simulator.windows import RollingCount
from tests.simulator.conftest import read_keystore
from tests.simulator.wire_client import BlazeSocket, HttpApi, text_message


def _batch(sim: Simulator, count: int, text: str = "hello") -> list[dict[str, str]]:
    return [text_message(sim.bot_id, sim.user_ids[i % len(sim.user_ids)], text) for i in range(count)]


def test_100_messages_pass_and_101_are_refused_on_both_transports(
    connect: Callable[..., BlazeSocket], api: HttpApi, sim: Simulator
) -> None:
    socket = connect()
    reply = socket.call("CREATE_PLAIN_MESSAGES", {"messages": _batch(sim, 101)})
    assert reply["error"]["code"] == 10002 and reply["error"]["extra"]["field"] == "messages"
    error = api.request("POST", "/messages", _batch(sim, 101)).json()["error"]
    assert error["code"] == 10002 and error["extra"]["field"] == "messages"
    assert sim.stats()["messages_accepted"] == 0
    assert "error" not in socket.call("CREATE_PLAIN_MESSAGES", {"messages": _batch(sim, 100)})
    assert api.request("POST", "/messages", _batch(sim, 100)).json() == {}
    stats = sim.stats()
    assert stats["messages_accepted"] == 200
    assert stats["largest_batch"] == 101  # what was seen, refused or not


def test_body_over_128_kb_is_refused(connect: Callable[..., BlazeSocket], api: HttpApi, sim: Simulator) -> None:
    big_text = "x" * 1400  # ~1.9 KB per message once base64 and JSON are added
    batch = _batch(sim, 70, big_text)
    error = api.request("POST", "/messages", batch).json()["error"]
    assert error["code"] == 10002 and error["extra"]["field"] == "body"
    assert error["extra"]["bytes"] > 128 * 1024
    reply = connect().call("CREATE_PLAIN_MESSAGES", {"messages": batch})
    assert reply["error"]["extra"]["field"] == "body"
    # Far past the limit (and past aiohttp's default 1 MB body cap) the answer is still 10002.
    huge = api.request("POST", "/messages", _batch(sim, 100, "y" * 15_000)).json()["error"]
    assert huge["code"] == 10002 and huge["extra"]["bytes"] > 1024 * 1024
    # The same messages in two halves fit.
    assert api.request("POST", "/messages", batch[:35]).json() == {}
    stats = sim.stats()
    assert stats["messages_accepted"] == 35 and stats["largest_body_bytes"] > 128 * 1024


def test_quota_counts_messages_across_transports_and_answers_429(make_sim: Callable[..., Simulator]) -> None:
    sim = make_sim(quota_per_minute=150, quota_window_seconds=1.0)
    with HttpApi(sim.http_url, read_keystore(sim)) as api, BlazeSocket(sim.blaze_url, read_keystore(sim)) as socket:
        assert "error" not in socket.call("CREATE_PLAIN_MESSAGES", {"messages": _batch(sim, 100)})
        # 100 + 60 > 150: the HTTP batch is refused as a whole, and not counted.
        error = api.request("POST", "/messages", _batch(sim, 60)).json()["error"]
        assert (error["status"], error["code"], error["description"]) == (202, 429, "Too Many Requests.")
        assert api.request("POST", "/messages", _batch(sim, 50)).json() == {}
        reply = socket.call("CREATE_MESSAGE", _batch(sim, 1)[0])
        assert reply["error"]["code"] == 429
        time.sleep(1.05)  # the window rolls on
        assert api.request("POST", "/messages", _batch(sim, 100)).json() == {}
    stats = sim.stats()
    assert stats["rate_limited_429"] == 2 and stats["errors_sent"] == {"429": 2}
    assert stats["messages_accepted"] == 250
    assert stats["max_rolling_60s"] == 250  # the stats window is 60 s whatever the quota window
    assert stats["max_rolling_60s_by_bot"] == {sim.bot_id: 250}
    assert sum(n for _, n in stats["accepted_per_second"]) == 250


def test_duplicates_count_toward_the_quota(make_sim: Callable[..., Simulator]) -> None:
    sim = make_sim(quota_per_minute=10)
    batch = _batch(sim, 6)
    with HttpApi(sim.http_url, read_keystore(sim)) as api:
        assert api.request("POST", "/messages", batch).json() == {}
        assert api.request("POST", "/messages", batch).json()["error"]["code"] == 429
        assert api.request("POST", "/messages", batch[:4]).json() == {}
    stats = sim.stats()
    assert (stats["messages_accepted"], stats["duplicate_message_ids"], stats["visible_messages"]) == (10, 4, 6)


def test_quota_is_per_bot(make_sim: Callable[..., Simulator]) -> None:
    sim = make_sim(bots=2, quota_per_minute=100)
    second = sim.write_keystore(sim.keystore_path.with_name("second.json"), bot=1)
    with HttpApi(sim.http_url, read_keystore(sim)) as first_api:
        assert first_api.request("POST", "/messages", _batch(sim, 100)).json() == {}
        assert first_api.request("POST", "/messages", _batch(sim, 1)).json()["error"]["code"] == 429
    second_keystore = json.loads(second.read_text())
    second_bot = second_keystore["app_id"]
    with HttpApi(sim.http_url, second_keystore) as second_api:
        batch = [text_message(second_bot, sim.user_ids[i % len(sim.user_ids)]) for i in range(100)]
        assert second_api.request("POST", "/messages", batch).json() == {}
    assert sim.stats()["max_rolling_60s_by_bot"] == {sim.bot_id: 100, second_bot: 100}


@pytest.mark.parametrize(
    ("events", "window", "peak"),
    [
        ([(0.0, 5), (30.0, 5), (59.9, 5), (60.0, 5)], 60.0, 15),  # (0, 60] excludes t=0 at t=60
        ([(0.0, 100), (61.0, 100), (62.0, 100)], 60.0, 200),
        ([(0.0, 1)] * 3, 1.0, 3),
    ],
)
def test_rolling_count_is_exact(events: list[tuple[float, int]], window: float, peak: int) -> None:
    counter = RollingCount(window)
    for at, count in events:
        counter.add(at, count)
    assert counter.peak == peak
