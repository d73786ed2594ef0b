"""Sending batches: one request each, deduplicated retries, and every error class it can meet."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from simulator.imrest import ImRestSimulator
from tests.integration.imrest.conftest import ANNOUNCEMENT
from worker.messaging.errors import (
    BatchRefused,
    ConnectionLost,
    Forbidden,
    InvalidData,
    MessagingError,
    PermanentError,
    RateLimited,
    RequestTimeout,
    ServerError,
    Unauthorized,
)
from worker.messaging.imrest import ImRestTransport, SendResult


def test_a_batch_is_one_request_and_one_message_per_target(
    transport: ImRestTransport, sim: ImRestSimulator
) -> None:
    targets = sim.user_ids[:3]  # 1099511627002..4, the spec's example recipients
    result = transport.send_batch(ANNOUNCEMENT, list(reversed(targets)), 0, "Maintenance tonight")
    assert result.transaction_id == 3122641868399794  # the spec's vector, end to end
    assert result.targets == tuple(targets) and result.msg_ids is None
    for user in targets:
        [message] = sim.messages_to(user)
        assert message["transaction_id"] == 3122641868399794
        assert (
            message["from_xid"]["uid"] == sim.sender_id
            and message["content"] == "Maintenance tonight"
        )
    assert sim.stats()["requests"] == {"send": 1}


def test_a_single_target_send_learns_its_msg_id(
    transport: ImRestTransport, sim: ImRestSimulator
) -> None:
    result = transport.send_batch(ANNOUNCEMENT, [sim.user_ids[0]], 0, "hi")
    assert result.transaction_id == 6195371454398710
    [msg_id] = result.msg_ids or ()
    assert sim.message(msg_id)["to_xid"]["uid"] == sim.user_ids[0]


def test_an_image_carries_its_attachment(transport: ImRestTransport, sim: ImRestSimulator) -> None:
    result = transport.send_batch(
        ANNOUNCEMENT, [sim.user_ids[0]], 1, "poster", {"url": "https://x/p.jpg", "fLen": 5}
    )
    assert sim.message(result.msg_ids[0])["attachment"] == '{"url":"https://x/p.jpg","fLen":5}'  # type: ignore[index]


def test_a_retry_after_execute_then_drop_is_deduplicated(
    transport: ImRestTransport, sim: ImRestSimulator
) -> None:
    sim.set_faults(drop_rate=1.0, limit=1)
    targets = sim.user_ids[:5]
    with pytest.raises(ConnectionLost):
        transport.send_batch(ANNOUNCEMENT, targets, 0, "hello")
    assert [len(sim.messages_to(user)) for user in targets] == [1] * 5  # it was executed
    again = transport.send_batch(ANNOUNCEMENT, targets, 0, "hello")
    assert [len(sim.messages_to(user)) for user in targets] == [1] * 5  # and not twice
    stats = sim.stats()
    assert stats["dedup"]["hits"] == 1 and stats["messages_created"] == 5
    assert again.transaction_id == sim.messages_to(targets[0])[0]["transaction_id"]


def test_a_retry_after_a_slow_reply_is_deduplicated(
    make_transport: Callable[..., ImRestTransport], sim: ImRestSimulator
) -> None:
    transport = make_transport(sim, timeout=0.3)
    sim.set_faults(slow_rate=1.0, slow_seconds=1.0, limit=1)
    with pytest.raises(RequestTimeout):
        transport.send_batch(ANNOUNCEMENT, sim.user_ids[:2], 0, "hello")
    transport.send_batch(ANNOUNCEMENT, sim.user_ids[:2], 0, "hello")
    assert sim.stats()["messages_created"] == 2


def send_isolating(
    transport: ImRestTransport, targets: list[int]
) -> tuple[list[SendResult], dict[int, MessagingError]]:
    """What the pipeline does with a permanent refusal: bisect until the culprits are alone."""
    try:
        return [transport.send_batch(ANNOUNCEMENT, targets, 0, "hello")], {}
    except Forbidden as error:
        if len(targets) == 1:
            return [], {targets[0]: error}
        middle = len(targets) // 2
        left = send_isolating(transport, targets[:middle])
        right = send_isolating(transport, targets[middle:])
        return left[0] + right[0], {**left[1], **right[1]}


def test_an_unknown_user_is_isolated_by_splitting(
    transport: ImRestTransport, sim: ImRestSimulator
) -> None:
    targets = [*sim.user_ids[:3], 999, *sim.user_ids[3:7]]
    with pytest.raises(Forbidden) as caught:
        transport.send_batch(ANNOUNCEMENT, targets, 0, "hello")
    assert caught.value.code == 10000 and "999" in str(caught.value)
    assert sim.stats()["messages_created"] == 0  # the refused request executed nothing
    sent, failed = send_isolating(transport, targets)
    assert list(failed) == [999] and failed[999].code == 10000
    assert sorted(t for result in sent for t in result.targets) == sorted(sim.user_ids[:7])
    assert [len(sim.messages_to(user)) for user in sim.user_ids[:7]] == [1] * 7
    # Every split request has an id of its own, so none was mistaken for a retry.
    assert len({result.transaction_id for result in sent}) == len(sent)
    assert sim.stats()["dedup"]["hits"] == 0


def test_an_invalid_token_stops_the_provider_in_plain_words(
    make_transport: Callable[..., ImRestTransport], sim: ImRestSimulator
) -> None:
    transport = make_transport(sim, access_token=sim.other_app_token)
    with pytest.raises(Unauthorized) as caught:
        transport.send_batch(ANNOUNCEMENT, sim.user_ids[:2], 0, "hello")
    error = caught.value
    assert error.code == 10008 and "issue a new admin token" in str(error)
    assert str(error).startswith("IM REST error 10008")
    assert sim.other_app_token not in str(error) and sim.other_app_token not in repr(error)
    assert sim.stats()["messages_created"] == 0


def test_an_unknown_app_id_stops_the_provider(
    make_transport: Callable[..., ImRestTransport], sim: ImRestSimulator
) -> None:
    with pytest.raises(Unauthorized) as caught:
        make_transport(sim, app_id="typo-app").send_batch(ANNOUNCEMENT, sim.user_ids[:1], 0, "x")
    assert caught.value.code == 40000 and "app_id" in str(caught.value)


def test_http_401_stops_the_provider(
    make_sim: Callable[..., ImRestSimulator], make_transport: Callable[..., ImRestTransport]
) -> None:
    sim = make_sim(auth_http_status=True)
    with pytest.raises(Unauthorized) as caught:
        make_transport(sim, access_token="wrong").send_batch(ANNOUNCEMENT, sim.user_ids[:1], 0, "x")
    assert caught.value.status == 401 and caught.value.code == 10008


def test_a_bare_500_is_a_server_error(transport: ImRestTransport, sim: ImRestSimulator) -> None:
    sim.set_faults(server_error_rate=1.0, limit=1)
    with pytest.raises(ServerError) as caught:
        transport.send_batch(ANNOUNCEMENT, sim.user_ids[:2], 0, "hello")
    assert caught.value.status == 500 and "Internal Server Error" in str(caught.value)
    transport.send_batch(ANNOUNCEMENT, sim.user_ids[:2], 0, "hello")  # nothing was executed
    assert sim.stats()["messages_created"] == 2 and sim.stats()["dedup"]["hits"] == 0


def test_a_database_error_code_is_retried(transport: ImRestTransport, sim: ImRestSimulator) -> None:
    sim.set_faults(codes={20000: 1.0}, limit=1)
    with pytest.raises(ServerError):
        transport.send_batch(ANNOUNCEMENT, sim.user_ids[:2], 0, "hello")
    transport.send_batch(ANNOUNCEMENT, sim.user_ids[:2], 0, "hello")
    assert sim.stats()["messages_created"] == 2


def test_http_429_is_rate_limited_with_the_servers_hint(
    make_sim: Callable[..., ImRestSimulator], make_transport: Callable[..., ImRestTransport]
) -> None:
    sim = make_sim(rate_limit_per_second=0.5, rate_limit_burst=1)
    transport = make_transport(sim)
    transport.send_batch(ANNOUNCEMENT, sim.user_ids[:1], 0, "first")
    with pytest.raises(RateLimited) as caught:
        transport.send_batch(ANNOUNCEMENT, sim.user_ids[1:2], 0, "second")
    # Retry-After is whole seconds, rounded up from the ~2 s the bucket needs to refill.
    assert caught.value.retry_after in (1.0, 2.0) and caught.value.status == 429


def test_data_false_fails_the_batch_without_a_retry_class(
    transport: ImRestTransport, sim: ImRestSimulator
) -> None:
    sim.set_faults(data_false_rate=1.0, limit=1)
    with pytest.raises(PermanentError) as caught:
        transport.send_batch(ANNOUNCEMENT, sim.user_ids[:2], 0, "hello")
    # Declined as a whole, nobody blamed: the sender fails the batch without splitting it.
    assert type(caught.value) is BatchRefused and "declined the batch" in str(caught.value)


def test_a_batch_the_server_would_refuse_never_leaves(
    transport: ImRestTransport, sim: ImRestSimulator
) -> None:
    with pytest.raises(InvalidData):
        transport.send_batch(ANNOUNCEMENT, sim.user_ids[:2], 0, "x" * (128 * 1024))
    with pytest.raises(InvalidData):
        transport.send_batch(ANNOUNCEMENT, sim.user_ids[:2], 1, "image without attachment")
    assert sim.stats()["requests"] == {}


def test_a_server_that_is_gone_is_connection_lost(
    make_transport: Callable[..., ImRestTransport], make_sim: Callable[..., ImRestSimulator]
) -> None:
    sim = make_sim()
    transport = make_transport(sim)
    sim.stop()
    with pytest.raises(ConnectionLost):
        transport.send_batch(ANNOUNCEMENT, [1099511627002], 0, "x")


def test_notify_and_groups(
    make_transport: Callable[..., ImRestTransport], sim: ImRestSimulator
) -> None:
    notify = make_transport(sim, endpoint="notify")
    result = notify.send_batch(
        ANNOUNCEMENT, sim.user_ids[:3], 0, "Your subscription renews tomorrow."
    )
    assert result.transaction_id == 7178256230690950 and sim.stats()["executed_sends"] == {
        "notify": 1
    }
    group = make_transport(sim).send_batch(
        ANNOUNCEMENT, sim.group_ids, 0, "to the groups", target_type=2
    )
    assert group.targets == tuple(sim.group_ids)
    with pytest.raises(Forbidden) as caught:
        make_transport(sim).send_batch(ANNOUNCEMENT, sim.foreign_group_ids, 0, "x", target_type=2)
    assert caught.value.code == 20002
