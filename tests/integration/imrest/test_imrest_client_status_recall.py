"""Receipts by polling GET /message/conversation, and recall, against the fake server."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from simulator.imrest import ImRestSimulator, RecipientBehaviour
from tests.imrest_support import eventually
from tests.integration.imrest.conftest import ANNOUNCEMENT, now_ms
from worker.messaging.errors import InvalidData, ServerError, Unauthorized
from worker.messaging.imrest import ImRestTransport, Marker


def statuses(transport: ImRestTransport, users: list[int], marker: Marker, since: int) -> list[str]:
    found = []
    for user in users:
        rows = transport.conversation_status(user, marker=marker, since_ms=since)
        found.append(rows[0].status if rows else "missing")
    return found


def test_a_multi_target_batch_is_found_by_its_marker_and_reaches_read(
    transport: ImRestTransport, sim: ImRestSimulator
) -> None:
    since = now_ms() - 1000
    users = sim.user_ids[:3]
    result = transport.send_batch(ANNOUNCEMENT, users, 0, "hello")
    assert result.msg_ids is None
    eventually(lambda: statuses(transport, users, result.marker, since) == ["READ"] * 3)
    [row] = transport.conversation_status(users[1], marker=result.marker, since_ms=since)
    assert row.opposite_id == users[1] and row.transaction_id == result.transaction_id
    assert row.msg_id == sim.messages_to(users[1])[0]["msg_id"]


def test_status_moves_sent_delivered_read_and_never_back(
    make_sim: Callable[..., ImRestSimulator], make_transport: Callable[..., ImRestTransport]
) -> None:
    sim = make_sim(behaviour=RecipientBehaviour(online=False))
    transport = make_transport(sim)
    since = now_ms() - 1000
    user = sim.user_ids[0]
    result = transport.send_batch(ANNOUNCEMENT, [user, sim.user_ids[1]], 0, "hello")
    seen = [statuses(transport, [user], result.marker, since)[0]]
    [msg_id] = [m["msg_id"] for m in sim.messages_to(user)]
    sim.set_status(msg_id, "DELIVERED")
    seen += statuses(transport, [user], result.marker, since)
    sim.set_status(msg_id, "READ")
    seen += statuses(transport, [user], result.marker, since)
    sim.set_status(msg_id, "DELIVERED")  # a late, older status changes nothing
    seen += statuses(transport, [user], result.marker, since)
    assert seen == ["SENT", "DELIVERED", "READ", "READ"]


def test_polling_pages_past_newer_messages(
    make_sim: Callable[..., ImRestSimulator], make_transport: Callable[..., ImRestTransport]
) -> None:
    sim = make_sim(behaviour=RecipientBehaviour(online=False))
    transport = make_transport(sim, page_limit=5)
    user = sim.user_ids[0]
    since = now_ms() - 1000
    ours = transport.send_batch(ANNOUNCEMENT, [user, sim.user_ids[1]], 0, "ours")
    later = "9b2e0f4a-1111-4c7d-8e9f-0a1b2c3d4e5f"
    for n in range(12):
        # Newer messages bury ours on page 3: one announcement, twelve requests (each with
        # another second target, so each has its own transaction_id and is not deduplicated).
        transport.send_batch(later, [user, sim.user_ids[2 + n]], 0, f"later {n}")
    sim.reset()
    [row] = transport.conversation_status(user, marker=ours.marker, since_ms=since)
    assert row.status == "SENT" and row.transaction_id == ours.transaction_id
    assert sim.stats()["requests"] == {"conversation": 3}  # 5 + 5 + the page holding ours
    # Every message of the later announcement, across pages, each once, newest first.
    rows = transport.conversation_status(user, marker=Marker(later), since_ms=since)
    assert len(rows) == 12 and len({r.transaction_id for r in rows}) == 12
    assert [r.msg_id for r in rows] == sorted((r.msg_id for r in rows), reverse=True)


def test_polling_stops_at_messages_older_than_the_announcement(
    make_sim: Callable[..., ImRestSimulator], make_transport: Callable[..., ImRestTransport]
) -> None:
    sim = make_sim(behaviour=RecipientBehaviour(online=False))
    transport = make_transport(sim, page_limit=3)
    user = sim.user_ids[0]
    for n in range(20):
        transport.send_batch(f"old-{n}", [user], 0, f"old {n}")
    time.sleep(0.05)
    since = now_ms()
    transport.send_batch(ANNOUNCEMENT, [user], 0, "ours")
    sim.reset()
    rows = transport.conversation_status(user, marker=Marker(ANNOUNCEMENT), since_ms=since)
    assert len(rows) == 1
    assert (
        sim.stats()["requests"]["conversation"] == 1
    )  # the first page already reached older messages


def test_polling_a_conversation_without_our_message(
    transport: ImRestTransport, sim: ImRestSimulator
) -> None:
    assert (
        transport.conversation_status(sim.user_ids[9], marker=Marker(ANNOUNCEMENT), since_ms=0)
        == []
    )


@pytest.mark.parametrize("paging", ["exclusive", "overlap"])
def test_polling_survives_every_cursor_style(
    make_sim: Callable[..., ImRestSimulator],
    make_transport: Callable[..., ImRestTransport],
    paging: str,
) -> None:
    sim = make_sim(paging=paging)
    transport = make_transport(sim, page_limit=2)
    user = sim.user_ids[0]
    since = now_ms() - 1000
    ours = transport.send_batch(ANNOUNCEMENT, [user], 0, "ours")
    for n in range(5):
        transport.send_batch(f"other-{n}", [user], 0, "later")
    rows = transport.conversation_status(user, marker=ours.marker, since_ms=since)
    assert [row.msg_id for row in rows] == list(ours.msg_ids or ())


def test_a_poll_that_hits_a_server_error_raises_it(
    transport: ImRestTransport, sim: ImRestSimulator
) -> None:
    sim.set_faults(server_error_rate=1.0, endpoints=["conversation"])
    with pytest.raises(ServerError):
        transport.conversation_status(sim.user_ids[0], marker=Marker(ANNOUNCEMENT), since_ms=0)


def test_recall_by_msg_ids_and_by_marker(transport: ImRestTransport, sim: ImRestSimulator) -> None:
    since = now_ms() - 1000
    single = transport.send_batch(ANNOUNCEMENT, [sim.user_ids[0]], 0, "one")
    batch = transport.send_batch(ANNOUNCEMENT, sim.user_ids[1:4], 0, "many")
    assert single.msg_ids is not None
    transport.recall(sim.user_ids[0], single.msg_ids[0])
    for user in batch.targets:
        for row in transport.conversation_status(user, marker=batch.marker, since_ms=since):
            transport.recall(user, row.msg_id)
    for user in sim.user_ids[:4]:
        assert [m["recalled"] for m in sim.messages_to(user)] == [True]
        assert (
            transport.conversation_status(user, marker=Marker(ANNOUNCEMENT), since_ms=since) == []
        )
    transport.recall(sim.user_ids[0], single.msg_ids[0])  # repeating a recall is harmless
    assert sim.stats()["recalls"] == 4


def test_recall_refusals(
    transport: ImRestTransport, sim: ImRestSimulator, make_transport: Callable[..., ImRestTransport]
) -> None:
    single = transport.send_batch(ANNOUNCEMENT, [sim.user_ids[0]], 0, "one")
    assert single.msg_ids is not None
    with pytest.raises(InvalidData):
        transport.recall(sim.user_ids[1], single.msg_ids[0])  # wrong conversation
    someone_else = make_transport(sim, from_user_id=sim.user_ids[5])
    with pytest.raises(Unauthorized) as caught:
        someone_else.recall(sim.user_ids[0], single.msg_ids[0])
    assert caught.value.code == 10010
    assert sim.message(single.msg_ids[0])["recalled"] is False
