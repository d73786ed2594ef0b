"""Fixtures for the messaging tests against the real simulator, on a loopback port per test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from messaging_sim_helpers import Listener

from simulator import SimConfig, Simulator, UserBehaviour
from worker.messaging.factory import make_transport
from worker.messaging.mixin.keystore import Keystore, load_keystore
from worker.messaging.transport import Transport


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(SimConfig(port=0, users=150, seed=1, behaviour=UserBehaviour.fast())) as running:
        yield running


@pytest.fixture
def sim_keystore(sim: Simulator) -> Keystore:
    return load_keystore(sim.keystore_path)


@pytest.fixture
def listener(sim: Simulator, sim_keystore: Keystore) -> Iterator[Listener]:
    running = Listener(sim_keystore, sim).start(sim)
    yield running
    running.stop()


@pytest.fixture
def transports(sim: Simulator, sim_keystore: Keystore) -> Iterator[Callable[..., Transport]]:
    made: list[Transport] = []

    def make(kind: str, **options: Any) -> Transport:
        transport = make_transport(
            kind, sim_keystore, api_url=sim.http_url, blaze_url=sim.blaze_url, **options
        )
        made.append(transport)
        return transport

    yield make
    for transport in made:
        transport.close()
