"""Both transports against the simulator: batches accepted, receipts back, drops survived."""

from __future__ import annotations

import json
import time

import pytest
from messaging_sim_helpers import Listener, announcement, wait_until

from simulator import Simulator
from worker.messaging.errors import ConnectionLost
from worker.messaging.factory import make_transport
from worker.messaging.mixin.batching import split_batches
from worker.messaging.mixin.ids import message_id_for, unique_conversation_id
from worker.messaging.mixin.keystore import load_keystore
from worker.messaging.mixin.payloads import build_payload, encode_data
from worker.messaging.transport import OutgoingMessage


def requests_since(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    """Requests per transport made between two stats snapshots."""
    return {k: n - before.get(k, 0) for k, n in after.items() if n != before.get(k, 0)}


@pytest.mark.parametrize("kind", ["blaze", "http"])
def test_a_batch_is_accepted_and_every_receipt_comes_back(
    sim, sim_keystore, listener, transports, kind
):
    messages = announcement(sim.bot_id, sim.user_ids)
    transport = transports(kind)
    before = sim.stats()["requests"]
    batches = split_batches(messages)
    assert [len(b) for b in batches] == [100, 50]
    for batch in batches:
        transport.send_messages(batch)
    listener.wait_read([m.message_id for m in messages])
    stats = sim.stats()
    assert stats["visible_messages"] == len(messages) == stats["distinct_message_ids"]
    assert stats["duplicate_message_ids"] == 0 and stats["errors_sent"] == {}
    assert stats["largest_batch"] == 100
    assert requests_since(before, stats["requests"]) == {kind: 2}


def test_blaze_sends_cards_over_http_and_their_receipts_still_come(
    sim, sim_keystore, listener, transports
):
    card = build_payload(
        "APP_CARD", {"app_id": sim.bot_id, "title": "Release 2.0", "description": "What's new"}
    )
    messages = [
        OutgoingMessage(
            conversation_id=unique_conversation_id(sim.bot_id, user),
            recipient_id=user,
            message_id=message_id_for("3f1c2d4e-5a6b-4c7d-8e9f-0a1b2c3d4e5f", user),
            category="APP_CARD",
            data_base64=encode_data(card),
        )
        for user in sim.user_ids[:20]
    ]
    before = sim.stats()["requests"]
    transports("blaze").send_messages(messages)
    listener.wait_read([m.message_id for m in messages])
    assert requests_since(before, sim.stats()["requests"]) == {"http": 1}


def test_the_simulators_legacy_keystore_works_too(sim, tmp_path):
    legacy = load_keystore(sim.write_keystore(tmp_path / "legacy.json", "legacy"))
    assert legacy.app_id == sim.bot_id
    transport = make_transport("http", legacy, api_url=sim.http_url, blaze_url=sim.blaze_url)
    try:
        transport.send_messages(announcement(sim.bot_id, sim.user_ids[:5]))
    finally:
        transport.close()
    assert sim.stats()["visible_messages"] == 5


@pytest.mark.parametrize("kind", ["blaze", "http"])
def test_a_cut_connection_fails_fast_and_the_retry_reconnects_without_duplicates(
    sim, listener, transports, kind
):
    messages = announcement(sim.bot_id, sim.user_ids[:100])
    transport = transports(kind, timeout=5.0)
    transport.send_messages(announcement(sim.bot_id, sim.user_ids[100:110]))  # warm connection
    sim.set_faults(cut_connection_rate=1.0, cut_accept_rate=1.0)
    started = time.monotonic()
    with pytest.raises(ConnectionLost):
        transport.send_messages(messages)
    assert time.monotonic() - started < 2.0  # not the 5 s timeout
    sim.set_faults()
    transport.send_messages(messages)  # the retry: same ids, a new socket opened lazily
    listener.wait_read([m.message_id for m in messages])
    stats = sim.stats()
    assert stats["connections_cut"] == 1
    assert stats["visible_messages"] == 110  # the cut batch was accepted once, shown once
    assert stats["duplicate_message_ids"] == 100


def test_the_listener_survives_its_own_dropped_connection(sim, sim_keystore, transports):
    listener = Listener(sim_keystore, sim).start(sim)
    try:
        sim.set_faults(cut_connection_rate=1.0, cut_accept_rate=1.0)
        with pytest.raises(ConnectionLost):
            listener.client.send_messages(announcement(sim.bot_id, sim.user_ids[:1]))
        sim.set_faults()
        wait_until(lambda: listener.client.connections_opened >= 2, what="listener reconnect")
        wait_until(lambda: sim.stats()["connections_listening"] == 1, what="re-subscribed")
        messages = announcement(sim.bot_id, sim.user_ids[:50])
        transports("http").send_messages(messages)
        listener.wait_read([m.message_id for m in messages])
        assert listener.running and listener.failure is None
    finally:
        listener.stop()


def test_incoming_user_messages_are_pushed_and_acknowledged(sim, listener):
    user = sim.user_ids[0]
    sim.user_says(user, "/stop")
    wait_until(lambda: any(m.data == b"/stop" for m in listener.incoming), what="incoming /stop")
    texts = [m for m in listener.incoming if m.user_id == user]
    assert all(m.conversation_id == unique_conversation_id(sim.bot_id, user) for m in texts)
    listener.client.acknowledge([m.message_id for m in texts])
    wait_until(lambda: sim.stats()["user_messages_pending"] == 0, what="acknowledged")
    assert sim.stats()["user_messages_acknowledged"] >= 1
    assert json.dumps(sim.stats()["errors_sent"]) == "{}"


def test_listener_without_subscription_gets_no_pushes(sim: Simulator, sim_keystore, transports):
    # A sending transport never sends LIST_PENDING_MESSAGES, so the simulator pushes it nothing.
    transports("blaze").send_messages(announcement(sim.bot_id, sim.user_ids[:10]))
    stats = sim.stats()
    assert stats["connections_listening"] == 0
    assert stats["receipts_sent"] in ({}, {"DELIVERED": 0, "READ": 0})
