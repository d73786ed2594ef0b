"""What one recipient will do with one message, drawn once, from the run's seed (spec §6 item 9).

A recipient's device receives a message with `RecipientBehaviour.delivery_probability` and reads
a delivered one with `read_probability`; each delay is the behaviour's, stretched by a factor in
`[1 - spread, 1 + spread]`. The draws hash (seed, user, n) where n counts that user's messages,
not a shared generator: the same run gives every user the same fate for their n-th message
whatever order concurrent requests arrive in, so a test or a bench can repeat a run exactly and
the simulator's stats are the truth a client's estimate is judged against.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from simulator.imrest.config import RecipientBehaviour

_SCALE = float(2**64)


@dataclass(frozen=True)
class Fate:
    """Whether a message will be delivered and read, and the factors applied to the delays."""

    delivers: bool
    reads: bool
    delivery_factor: float = 1.0
    read_factor: float = 1.0


#: What a message gets without draws: delivered and read after the exact delays.
CERTAIN = Fate(delivers=True, reads=True)


def draw_fate(seed: int, user_id: int, nth: int, behaviour: RecipientBehaviour) -> Fate:
    """The fate of `user_id`'s `nth` message (0-based) in the run seeded with `seed`."""
    # A recipient without a read delay never reads, whatever the probability says.
    read_probability = 0.0 if behaviour.read_delay is None else behaviour.read_probability
    if behaviour.delivery_probability >= 1.0 and read_probability >= 1.0 and not behaviour.spread:
        return CERTAIN
    deliver, read, delivery_jitter, read_jitter = _uniforms(seed, user_id, nth)
    delivers = deliver < behaviour.delivery_probability
    return Fate(
        delivers=delivers,
        reads=delivers and read < read_probability,
        delivery_factor=1.0 + behaviour.spread * (2.0 * delivery_jitter - 1.0),
        read_factor=1.0 + behaviour.spread * (2.0 * read_jitter - 1.0),
    )


def _uniforms(seed: int, user_id: int, nth: int) -> tuple[float, float, float, float]:
    """Four independent uniforms in [0, 1) from one digest."""
    digest = hashlib.blake2b(f"imrest-fate|{seed}|{user_id}|{nth}".encode(), digest_size=32)
    raw = digest.digest()
    a, b, c, d = (int.from_bytes(raw[i : i + 8], "big") / _SCALE for i in range(0, 32, 8))
    return a, b, c, d
