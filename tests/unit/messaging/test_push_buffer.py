"""PushBuffer: the reader-to-dispatcher hand-off of the Blaze listener."""

from __future__ import annotations

import threading
import time

import pytest

from worker.messaging.mixin.push_buffer import Full, PushBuffer


def test_items_come_out_in_order_up_to_the_limit() -> None:
    buffer: PushBuffer[int] = PushBuffer(100)
    for i in range(5):
        buffer.put(i, timeout=1)
    assert buffer.take(3, timeout=0) == [0, 1, 2]
    assert buffer.take(3, timeout=0) == [3, 4]
    assert buffer.take(3, timeout=0.01) == []


def test_an_item_put_while_the_consumer_waits_wakes_it() -> None:
    buffer: PushBuffer[str] = PushBuffer(10)
    threading.Timer(0.05, buffer.put, args=("receipt", 1)).start()
    started = time.monotonic()
    assert buffer.take(10, timeout=5) == ["receipt"]
    assert time.monotonic() - started < 4


def test_a_full_buffer_waits_for_room_then_gives_up() -> None:
    buffer: PushBuffer[int] = PushBuffer(2)
    buffer.put(1, timeout=0)
    buffer.put(2, timeout=0)
    with pytest.raises(Full):
        buffer.put(3, timeout=0.05)
    threading.Timer(0.05, buffer.take, args=(1, 0)).start()
    buffer.put(3, timeout=5)  # room came free
    assert buffer.take(10, timeout=0) == [2, 3]
