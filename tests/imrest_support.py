"""Shared by the IM REST fake's own tests and the IM REST client's tests: start fakes, wait."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from simulator.imrest import ImRestConfig, ImRestSimulator, RecipientBehaviour


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
