"""``PushBuffer``: pushes from a connection's reader thread to the thread that dispatches them.

What ``queue.Queue`` does, for one producer and one consumer, at a fraction of the cost per item
(docs/decisions/0001): the listener moves two receipts per message sent through it, and
``Queue.put`` / ``get`` take a lock and signal a condition each time, where ``deque.append`` /
``popleft`` are atomic and the consumer is woken only when it has nothing left (an ``Event`` set
once per batch, not per item).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Generic, TypeVar

T = TypeVar("T")


class Full(Exception):
    """No room came free within the timeout: the consumer is not keeping up."""


class PushBuffer(Generic[T]):
    """A bounded FIFO for one producer thread and one consumer thread."""

    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        self._items: deque[T] = deque()
        self._ready = threading.Event()
        self._room = threading.Condition()

    def __len__(self) -> int:
        return len(self._items)

    def put(self, item: T, timeout: float) -> None:
        """Append ``item``; wait up to ``timeout`` seconds for room, else raise ``Full``."""
        if len(self._items) >= self.maxsize:
            deadline = time.monotonic() + timeout
            with self._room:
                while len(self._items) >= self.maxsize:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise Full
                    self._room.wait(remaining)
        self._items.append(item)
        if not self._ready.is_set():
            self._ready.set()

    def take(self, limit: int, timeout: float) -> list[T]:
        """Up to ``limit`` items, oldest first, waiting up to ``timeout`` seconds for the first;
        an empty list if none came."""
        if not self._items:
            self._ready.wait(timeout)
        # Cleared before popping: an item appended from now on sets it again, so none is missed.
        self._ready.clear()
        taken: list[T] = []
        items = self._items
        while items and len(taken) < limit:
            taken.append(items.popleft())
        if items:
            self._ready.set()
        if taken and len(items) + len(taken) >= self.maxsize:
            with self._room:  # the producer may be waiting for room
                self._room.notify_all()
        return taken
