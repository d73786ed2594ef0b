"""Reply correlation: by id first, timeouts clean up, late replies are recognised and dropped."""

from __future__ import annotations

import threading
import time

import pytest

from worker.messaging.errors import ConnectionLost, RequestTimeout, Unauthorized
from worker.messaging.mixin.correlation import ReplyTable
from worker.messaging.mixin.frames import ServerFrame


def test_a_reply_from_another_thread_wakes_its_waiter():
    table = ReplyTable()
    waiter = table.register("r1", "CREATE_MESSAGE")
    reply = ServerFrame(id="r1", action="CREATE_MESSAGE", data={"status": "SENT"})
    threading.Timer(0.05, table.resolve, args=(reply,)).start()
    assert waiter.wait(2.0) is reply
    assert len(table) == 0


def test_replies_match_by_id_not_by_order():
    table = ReplyTable()
    first, second = table.register("a", "X"), table.register("b", "X")
    assert table.resolve(ServerFrame(id="b", action="X"))
    assert table.resolve(ServerFrame(id="a", action="X"))
    assert first.wait(0).id == "a" and second.wait(0).id == "b"


def test_a_timeout_removes_the_waiter_and_the_late_reply_is_dropped_once():
    table = ReplyTable()
    waiter = table.register("slow", "CREATE_PLAIN_MESSAGES")
    started = time.monotonic()
    with pytest.raises(RequestTimeout, match="no reply to CREATE_PLAIN_MESSAGES") as caught:
        waiter.wait(0.05)
    assert 0.04 < time.monotonic() - started < 1.0
    assert caught.value.request_id == "slow"
    assert len(table) == 0
    assert table.resolve(ServerFrame(id="slow", action="CREATE_PLAIN_MESSAGES")) is True
    # A frame with an id never asked for is not a reply: it goes on to push dispatch.
    assert table.resolve(ServerFrame(id="push-1", action="ACKNOWLEDGE_MESSAGE_RECEIPT")) is False


def test_closing_fails_every_waiter_and_refuses_new_ones_with_the_first_reason():
    table = ReplyTable()
    waiters = [table.register(str(i), "X") for i in range(3)]
    table.close(lambda: Unauthorized("token refused", code=401))
    table.close(lambda: ConnectionLost("eof"))  # a later reason does not replace the first
    errors = []
    for waiter in waiters:
        with pytest.raises(Unauthorized) as caught:
            waiter.wait(1.0)
        errors.append(caught.value)
    assert len({id(e) for e in errors}) == 3  # one exception object per thread
    with pytest.raises(Unauthorized):
        table.register("late", "X")


def test_expired_id_memory_is_bounded():
    table = ReplyTable(remember_expired=2)
    for request_id in ("a", "b", "c"):
        table.register(request_id, "X")
        table.expire(request_id)
    assert table.resolve(ServerFrame(id="a", action="X")) is False
    assert table.resolve(ServerFrame(id="c", action="X")) is True
