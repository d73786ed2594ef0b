"""Fixtures: a fast IM REST simulator on port 0, and `ImRestTransport`s configured against it."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from simulator.imrest import ImRestConfig, ImRestSimulator, RecipientBehaviour
from worker.messaging.imrest import ImRestSettings, ImRestTransport

ANNOUNCEMENT = "3f1c2d4e-5a6b-4c7d-8e9f-0a1b2c3d4e5f"


@pytest.fixture
def make_sim() -> Iterator[Callable[..., ImRestSimulator]]:
    started: list[ImRestSimulator] = []

    def make(**overrides: Any) -> ImRestSimulator:
        overrides.setdefault("users", 30)
        overrides.setdefault("group_size", 5)
        overrides.setdefault("behaviour", RecipientBehaviour.fast())
        sim = ImRestSimulator(ImRestConfig(**overrides)).start()
        started.append(sim)
        return sim

    yield make
    for sim in started:
        sim.stop()


@pytest.fixture
def sim(make_sim: Callable[..., ImRestSimulator]) -> ImRestSimulator:
    return make_sim()


@pytest.fixture
def make_transport() -> Iterator[Callable[..., ImRestTransport]]:
    """`make(sim, **settings)`: a transport acting as the simulator's sending account."""
    made: list[ImRestTransport] = []

    def make(sim: ImRestSimulator, **overrides: Any) -> ImRestTransport:
        values: dict[str, Any] = {
            "base_url": sim.base_url,
            "app_id": sim.app_id,
            "access_token": sim.admin_token,
            "from_user_id": sim.sender_id,
            "timeout": 2.0,
        }
        values.update(overrides)
        transport = ImRestTransport(ImRestSettings(**values))
        made.append(transport)
        return transport

    yield make
    for transport in made:
        transport.close()


@pytest.fixture
def transport(
    sim: ImRestSimulator, make_transport: Callable[..., ImRestTransport]
) -> ImRestTransport:
    return make_transport(sim)


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def eventually(check: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("the condition did not hold in time")
        time.sleep(0.02)
