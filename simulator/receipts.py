"""The recipients' side: when each message is DELIVERED and READ, and the receipt pushes.

When a message is accepted its future is drawn at once (one DELIVERED per device, maybe a READ,
maybe a duplicate or a READ that overtakes its DELIVERED) and put on one heap of due times.
A single loop timer, re-armed for the earliest due entry, pops everything that is due and emits
the pushes: no task or timer per receipt, so thousands per second stay cheap.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import math
import random
import time

from simulator.config import UserBehaviour
from simulator.hub import Hub
from simulator.ledger import DELIVERED, READ, STATE_NAMES, Ledger, MessageRecord
from simulator.population import User
from simulator.stats import Stats
from simulator.wire import receipt_frame

# Receipts emitted per timer callback before yielding to the event loop, so that a burst of
# due receipts does not starve the sockets.
_EMIT_BUDGET = 2000
# Spacing of the copies that 'duplicate' and 'out of order' produce.
_NUDGE_SECONDS = 0.05


def _lognormal(rng: random.Random, median: float, sigma: float, cap: float) -> float:
    return min(rng.lognormvariate(math.log(median), sigma), cap)


class ReceiptScheduler:
    """Draws the receipts of accepted messages and emits them when due."""

    def __init__(
        self,
        behaviour: UserBehaviour,
        ledger: Ledger,
        stats: Stats,
        hub: Hub,
        *,
        seed: int,
        started_at: float,
    ) -> None:
        self._behaviour = behaviour
        self._ledger = ledger
        self._stats = stats
        self._hub = hub
        self._rng = random.Random(f"blazecast-simulator-receipts:{seed}")
        self._started_at = started_at
        self._loop = asyncio.get_running_loop()
        self._heap: list[tuple[float, int, MessageRecord, int]] = []
        self._sequence = itertools.count()
        self._timer: asyncio.TimerHandle | None = None

    @property
    def pending(self) -> int:
        return len(self._heap)

    def plan(self, record: MessageRecord, user: User, now: float) -> None:
        """Draw when the user's devices store the message and when (if ever) it is read."""
        behaviour, rng = self._behaviour, self._rng
        # Offline devices deliver only once they come online (checklist item 14).
        start = max(now, self._started_at + user.online_after)
        deliveries = [
            start
            + _lognormal(
                rng, behaviour.delivery_median, behaviour.delivery_sigma, behaviour.delivery_max
            )
            for _ in range(user.devices)
        ]
        due: list[tuple[float, int]] = [(at, DELIVERED) for at in deliveries]
        if not user.never_read and rng.random() < behaviour.read_probability:
            read_at = min(deliveries) + _lognormal(
                rng, behaviour.read_median, behaviour.read_sigma, behaviour.read_max
            )
            if rng.random() < behaviour.out_of_order_rate:
                # READ first, every DELIVERED after it.
                read_at = min(deliveries)
                due = [(at + _NUDGE_SECONDS, DELIVERED) for at in deliveries]
            due.append((read_at, READ))
        if behaviour.duplicate_receipt_rate and rng.random() < behaviour.duplicate_receipt_rate:
            at, state = due[rng.randrange(len(due))]
            due.append((at + _NUDGE_SECONDS, state))
        heap, sequence = self._heap, self._sequence
        for at, state in due:
            heapq.heappush(heap, (at, next(sequence), record, state))

    def arm(self) -> None:
        """(Re)start the timer for the earliest due receipt; call after a batch of `plan`s."""
        if not self._heap:
            return
        due = self._heap[0][0]
        if self._timer is not None:
            if self._timer.when() <= due:
                return
            self._timer.cancel()
        self._timer = self._loop.call_at(due, self._emit_due)

    def _emit_due(self) -> None:
        self._timer = None
        heap, ledger, stats, hub = self._heap, self._ledger, self._stats, self._hub
        now = self._loop.time()
        now_ns = time.time_ns()
        emitted = 0
        while heap and heap[0][0] <= now and emitted < _EMIT_BUDGET:
            _, _, record, state = heapq.heappop(heap)
            emitted += 1
            first_delivered, first_read = ledger.advance(record, state, now_ns)
            stats.messages_delivered += first_delivered
            stats.messages_read += first_read
            status = STATE_NAMES[state]
            result = hub.push(record.bot_id, receipt_frame(record.message_id, status, now_ns))
            if result == "sent":
                stats.receipts_sent[status] += 1
            elif result == "queued":
                stats.receipts_queued += 1
            else:
                stats.receipts_dropped += 1
        if heap and heap[0][0] <= now:
            # Over budget: run again right after the loop has served the sockets.
            self._timer = self._loop.call_at(now, self._emit_due)
        else:
            self.arm()

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
