"""Fixtures: a fast IM REST simulator on port 0, and `ImRestTransport`s configured against it."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from simulator.imrest import ImRestSimulator
from tests.imrest_support import simulator_factory
from worker.messaging.imrest import ImRestSettings, ImRestTransport

ANNOUNCEMENT = "3f1c2d4e-5a6b-4c7d-8e9f-0a1b2c3d4e5f"


@pytest.fixture
def make_sim() -> Iterator[Callable[..., ImRestSimulator]]:
    with simulator_factory(users=30) as make:
        yield make


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
