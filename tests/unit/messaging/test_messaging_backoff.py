"""Reconnect delays: doubling from 1 s, capped at 30 s, jittered, never zero."""

from __future__ import annotations

import random

import pytest

from worker.messaging.mixin.backoff import reconnect_delay


def test_delays_double_then_cap_within_the_jitter_window():
    rng = random.Random(3)
    for attempt, window in [(0, 1), (1, 2), (2, 4), (4, 16), (5, 30), (50, 30), (10_000, 30)]:
        for _ in range(50):
            delay = reconnect_delay(attempt, rng=rng.random)
            assert window / 2 <= delay <= window


def test_jitter_spreads_clients_apart():
    delays = {round(reconnect_delay(4), 3) for _ in range(50)}
    assert len(delays) > 10


def test_negative_attempts_are_refused():
    with pytest.raises(ValueError):
        reconnect_delay(-1)
