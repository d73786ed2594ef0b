"""Faults from the simulator: slow replies, 429 storms, 401s, bare 500s, broken batches."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from messaging_sim_helpers import announcement, send_isolating, wait_until, write_foreign_keystore

from simulator import SimConfig, Simulator, UserBehaviour
from worker.messaging.errors import (
    Forbidden,
    InvalidData,
    RateLimited,
    RequestTimeout,
    ServerError,
    Unauthorized,
)
from worker.messaging.factory import make_transport
from worker.messaging.mixin.blaze import BlazeClient
from worker.messaging.mixin.http import HttpTransport
from worker.messaging.mixin.keystore import load_keystore
from worker.messaging.mixin.payloads import encode_data
from worker.messaging.transport import OutgoingMessage

SKEW = 600.0  # this machine's clock is ten minutes fast


def auth_failures(stats: dict[str, Any]) -> int:
    """Requests and upgrades the simulator refused with 401, whatever the reason."""
    return sum(stats["auth_failures"].values())


@pytest.mark.parametrize("kind", ["blaze", "http"])
def test_a_slow_reply_times_out_and_the_retry_is_a_harmless_duplicate(sim, transports, kind):
    messages = announcement(sim.bot_id, sim.user_ids[:100])
    transport = transports(kind, timeout=0.3)
    sim.set_faults(slow_reply_rate=1.0, slow_reply_seconds=1.0)
    started = time.monotonic()
    with pytest.raises(RequestTimeout):
        transport.send_messages(messages)
    assert time.monotonic() - started < 1.0
    time.sleep(1.0)  # the late reply comes and must not confuse the next request
    sim.set_faults()
    transport.send_messages(messages)
    stats = sim.stats()
    assert stats["replies_slowed"] == 1
    assert stats["visible_messages"] == 100  # the user sees each message once
    assert stats["duplicate_message_ids"] == 100


@pytest.mark.parametrize("kind", ["blaze", "http"])
def test_a_429_storm_is_rate_limited_until_it_passes(sim, transports, kind):
    messages = announcement(sim.bot_id, sim.user_ids[:10])
    transport = transports(kind)
    transport.send_messages(announcement(sim.bot_id, sim.user_ids[10:11]))  # connected before
    sim.set_faults(storm={"code": 429, "seconds": 1.0})
    for _ in range(3):
        with pytest.raises(RateLimited) as caught:
            transport.send_messages(messages)
        assert caught.value.code == 429
    time.sleep(1.1)
    transport.send_messages(messages)
    stats = sim.stats()
    assert stats["rate_limited_429"] == 3 and stats["visible_messages"] == 11


def test_the_real_quota_answers_429_too(tmp_path):
    config = SimConfig(port=0, users=150, behaviour=UserBehaviour.fast(), quota_per_minute=120)
    with Simulator(config) as sim:
        transport = make_transport(
            "http", load_keystore(sim.keystore_path), api_url=sim.http_url, blaze_url=sim.blaze_url
        )
        try:
            messages = announcement(sim.bot_id, sim.user_ids)
            transport.send_messages(messages[:100])
            with pytest.raises(RateLimited):
                transport.send_messages(messages[100:])
        finally:
            transport.close()


@pytest.mark.parametrize("mode", ["error_frame", "http_401"])
def test_a_bad_key_stops_the_blaze_client_with_invalid_credentials(sim, tmp_path, mode):
    sim.set_faults(ws_auth_mode=mode)
    keystore = load_keystore(write_foreign_keystore(sim, tmp_path / "bad.json"))
    client = BlazeClient(keystore, sim.blaze_url, sim.http_url)
    try:
        with pytest.raises(Unauthorized) as caught:
            client.send_messages(announcement(sim.bot_id, sim.user_ids[:5]))
        assert caught.value.reason == "invalid credentials"
        assert "Check app_id, session_id and session_private_key" in str(caught.value)
        before = sim.stats()
        for _ in range(3):  # later calls answer at once, without touching the server
            with pytest.raises(Unauthorized):
                client.send_messages(announcement(sim.bot_id, sim.user_ids[:5]))
        after = sim.stats()
        # One refused upgrade and one refused GET /me probe, then nothing: no reconnect loop.
        assert auth_failures(before) == auth_failures(after) == 2
        assert after["requests"] == before["requests"]
        assert after["visible_messages"] == 0
    finally:
        client.close()


@pytest.mark.parametrize("mode", ["error_frame", "http_401"])
def test_a_fast_clock_is_reported_as_clock_skew_and_the_listener_does_not_loop(
    sim, sim_keystore, mode
):
    sim.set_faults(ws_auth_mode=mode)
    client = BlazeClient(
        sim_keystore,
        sim.blaze_url,
        sim.http_url,
        subscribe=True,
        on_push=lambda push: None,
        clock=lambda: time.time() + SKEW,
        backoff_base=0.01,
    )
    outcome: list[BaseException] = []

    def listen() -> None:
        try:
            client.run_forever(threading.Event())
        except Unauthorized as exc:
            outcome.append(exc)

    thread = threading.Thread(target=listen)
    thread.start()
    thread.join(10)
    client.close()
    assert not thread.is_alive(), "run_forever kept reconnecting after a 401"
    (error,) = outcome
    assert isinstance(error, Unauthorized) and error.reason == "clock skew"
    assert error.skew_seconds == pytest.approx(-SKEW, abs=5)
    assert "clock is 600 s ahead of the server's" in str(error)
    assert auth_failures(sim.stats()) == 2  # one upgrade, one GET /me probe, no retries


def test_http_401_reasons(sim, sim_keystore, tmp_path):
    skewed = HttpTransport(sim_keystore, sim.http_url, clock=lambda: time.time() + SKEW)
    foreign = HttpTransport(
        load_keystore(write_foreign_keystore(sim, tmp_path / "bad.json")), sim.http_url
    )
    try:
        with pytest.raises(Unauthorized) as caught:
            skewed.send_messages(announcement(sim.bot_id, sim.user_ids[:3]))
        assert caught.value.reason == "clock skew"
        with pytest.raises(Unauthorized) as caught:
            foreign.me()
        assert caught.value.reason == "invalid credentials"
    finally:
        skewed.close()
        foreign.close()


def test_a_bare_500_is_a_server_error_on_both_paths(sim, sim_keystore, transports):
    sim.set_faults(bare_http_500_rate=1.0)
    messages = announcement(sim.bot_id, sim.user_ids[:10])
    with pytest.raises(ServerError, match="HTTP 500"):
        transports("http").send_messages(messages)
    blaze = transports("blaze")
    with pytest.raises(ServerError, match="HTTP 500"):  # the websocket upgrade gets it too
        blaze.send_messages(messages)
    sim.set_faults()
    blaze.send_messages(messages)
    assert sim.stats()["visible_messages"] == 10


def broken(message: OutgoingMessage) -> OutgoingMessage:
    """The same message with a PLAIN_CONTACT payload that fails validation."""
    data = encode_data(json.dumps({"user_id": "bob"}).encode())
    return OutgoingMessage(
        message.conversation_id, message.recipient_id, message.message_id, "PLAIN_CONTACT", data
    )


@pytest.mark.parametrize("kind", ["blaze", "http"])
def test_one_invalid_message_fails_its_batch_naming_the_field_and_is_isolated(
    sim, transports, kind
):
    messages = announcement(sim.bot_id, sim.user_ids[:40])
    messages[17] = broken(messages[17])
    transport = transports(kind)
    started = time.monotonic()
    with pytest.raises(InvalidData) as caught:
        transport.send_messages(messages)
    assert "user_id" in str(caught.value.extra["field"])
    assert "user_id" in str(caught.value)
    failures = send_isolating(transport, messages)
    assert time.monotonic() - started < 5.0  # no timeouts on the way: errors come back at once
    assert list(failures) == [messages[17].message_id]
    assert isinstance(failures[messages[17].message_id], InvalidData)
    assert sim.stats()["visible_messages"] == 39


def test_a_blocked_recipient_is_forbidden_and_only_fails_itself(tmp_path: Path):
    users = [f"00000000-0000-4000-8000-{i:012d}" for i in range(20)]
    users_file = tmp_path / "users.csv"
    users_file.write_text(
        "user_id,blocked\n"
        + "".join(f"{u},{'yes' if i == 5 else ''}\n" for i, u in enumerate(users))
    )
    config = SimConfig(port=0, users_file=users_file, behaviour=UserBehaviour.fast())
    with Simulator(config) as sim:
        transport = make_transport(
            "blaze", load_keystore(sim.keystore_path), api_url=sim.http_url, blaze_url=sim.blaze_url
        )
        try:
            messages = announcement(sim.bot_id, users)
            with pytest.raises(Forbidden):
                transport.send_messages(messages)
            failures = send_isolating(transport, messages)
            assert list(failures) == [messages[5].message_id]
            wait_until(lambda: sim.stats()["visible_messages"] == 19, what="19 visible")
        finally:
            transport.close()
