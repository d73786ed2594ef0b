"""Fixtures for the simulator's own tests: a simulator on port 0 and hand-built clients.

Each test gets a fresh simulator (it starts in about 10 ms) with fast user behaviour, so that
counters and receipts of one test never leak into another.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from simulator import SimConfig, Simulator, UserBehaviour
from tests.simulator.wire_client import BlazeSocket, HttpApi


@pytest.fixture
def make_sim() -> Iterator[Callable[..., Simulator]]:
    """Start a simulator with the given SimConfig fields (fast behaviour, 50 users by default)."""
    started: list[Simulator] = []

    def make(**overrides: Any) -> Simulator:
        overrides.setdefault("users", 50)
        overrides.setdefault("behaviour", UserBehaviour.fast())
        sim = Simulator(SimConfig(port=0, **overrides)).start()
        started.append(sim)
        return sim

    yield make
    for sim in started:
        sim.stop()


@pytest.fixture
def sim(make_sim: Callable[..., Simulator]) -> Simulator:
    return make_sim()


def read_keystore(sim: Simulator) -> dict[str, str]:
    keystore = json.loads(sim.keystore_path.read_text())
    assert isinstance(keystore, dict)
    return keystore


@pytest.fixture
def keystore(sim: Simulator) -> dict[str, str]:
    return read_keystore(sim)


@pytest.fixture
def api(sim: Simulator, keystore: dict[str, str]) -> Iterator[HttpApi]:
    client = HttpApi(sim.http_url, keystore)
    yield client
    client.close()


@pytest.fixture
def connect(sim: Simulator, keystore: dict[str, str]) -> Iterator[Callable[..., BlazeSocket]]:
    """Open websockets to `sim` (closed after the test); keyword arguments go to BlazeSocket."""
    sockets: list[BlazeSocket] = []

    def open_socket(**kwargs: Any) -> BlazeSocket:
        kwargs.setdefault("keystore", keystore)
        socket = BlazeSocket(sim.blaze_url, **kwargs)
        sockets.append(socket)
        return socket

    yield open_socket
    for socket in sockets:
        socket.close()
