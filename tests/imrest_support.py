"""Shared by the IM REST fake's own tests and the IM REST client's tests: start fakes, wait,
send and poll with the bare client (the pipeline's own path is in ``tests/integration/imrest/
polling_support.py``)."""

from __future__ import annotations

import heapq
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from simulator.imrest import ImRestConfig, ImRestSimulator, RecipientBehaviour
from worker.messaging.errors import TransientError
from worker.messaging.imrest import (
    ImRestSettings,
    ImRestTransport,
    Marker,
    PollSchedule,
    after_transient,
)
from worker.messaging.imrest.status import DeliveryStatus


def eventually(check: Callable[[], bool], timeout: float = 5.0) -> None:
    """Wait until `check()` holds; the simulated recipients act after short delays."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("the condition did not hold in time")
        time.sleep(0.02)


@contextmanager
def simulator_factory(users: int) -> Iterator[Callable[..., ImRestSimulator]]:
    """`make(**ImRestConfig fields)` starts a fake (fast recipients); all are stopped at the end."""
    started: list[ImRestSimulator] = []

    def make(**overrides: Any) -> ImRestSimulator:
        overrides.setdefault("users", users)
        overrides.setdefault("group_size", 5)
        overrides.setdefault("behaviour", RecipientBehaviour.fast())
        sim = ImRestSimulator(ImRestConfig(**overrides)).start()
        started.append(sim)
        return sim

    try:
        yield make
    finally:
        for sim in started:
            sim.stop()


def send_all(
    transport: ImRestTransport, settings: ImRestSettings, announcement: str, users: list[int]
) -> dict[int, float]:
    """Every user once, 100 per request, retried as the provider's verdict says; sent times."""
    sent_at: dict[int, float] = {}
    for index in range(0, len(users), settings.batch_size):
        batch = users[index : index + settings.batch_size]
        first, failures = time.monotonic(), 0
        while True:
            try:
                transport.send_batch(announcement, batch, 0, "Maintenance tonight 22:00-23:00 UTC")
                break
            except TransientError as error:
                failures += 1
                verdict = after_transient(
                    error,
                    failures=failures,
                    first_attempt_at=first,
                    now=time.monotonic(),
                    settings=settings,
                )
                if verdict != "retry":
                    raise
        done = time.monotonic()
        sent_at.update((user, done) for user in batch)
    return sent_at


def poll_on_schedule(
    transport: ImRestTransport,
    announcement: str,
    recipients: list[int],
    sent_at: dict[int, float],
    since_ms: int,
    schedule: PollSchedule,
) -> tuple[dict[int, DeliveryStatus], int]:
    """Poll each recipient on the schedule until READ or its last poll; last status, requests."""
    marker = Marker(announcement)
    due = [(schedule.first(sent_at[user]), user) for user in recipients]
    heapq.heapify(due)
    seen: dict[int, DeliveryStatus] = {}
    requests = 0
    while due:
        at, user = heapq.heappop(due)
        time.sleep(max(0.0, at - time.monotonic()))
        rows = transport.conversation_status(user, marker=marker, since_ms=since_ms)
        requests += 1  # one page: each conversation holds one message
        status = rows[0].status if rows else None
        if status is not None:
            seen[user] = status
        following = schedule.after(sent_at[user], time.monotonic(), status)
        if following is not None:
            heapq.heappush(due, (following, user))
    return seen, requests
