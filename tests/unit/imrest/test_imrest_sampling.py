"""The uniform sample of an audience: deterministic by seed and recipient id, and its size."""

from __future__ import annotations

from collections import Counter

import pytest

from worker.messaging.imrest.sampling import (
    choose_sample,
    recipients_to_poll,
    sample_key,
    sample_size,
)

AUDIENCE = list(range(1099511627002, 1099511627002 + 5000))


def test_the_same_seed_chooses_the_same_sample_whatever_the_order() -> None:
    first = choose_sample(AUDIENCE, 300, "announcement-a")
    again = choose_sample(reversed(AUDIENCE), 300, "announcement-a")
    assert first == again and len(first) == 300 and set(first) <= set(AUDIENCE)
    assert first == sorted(first)
    assert choose_sample(AUDIENCE, 300, "announcement-b") != first


def test_the_key_is_pinned_so_sql_and_later_versions_agree() -> None:
    # sha256("blazecast/imrest/sample/v1|seed|1099511627002"), first 8 bytes, low 63 bits.
    assert sample_key("seed", 1099511627002) == 0x21E52953CBC24034
    assert 0 <= sample_key("x", 1) < 2**63


def test_a_smaller_sample_is_part_of_a_larger_one() -> None:
    # Re-planning with a larger budget keeps the recipients already being polled.
    assert set(choose_sample(AUDIENCE, 100, "s")) <= set(choose_sample(AUDIENCE, 400, "s"))


def test_every_recipient_is_equally_likely_to_be_chosen() -> None:
    # 400 seeds of a 10-of-50 sample: each id is chosen 80 times on average (sd ~8).
    counts: Counter[int] = Counter()
    for seed in range(400):
        counts.update(choose_sample(range(50), 10, str(seed)))
    assert len(counts) == 50 and min(counts.values()) >= 50 and max(counts.values()) <= 110


def test_small_audiences_are_polled_in_full_and_large_ones_sampled() -> None:
    assert recipients_to_poll(AUDIENCE[:2000], "s") == AUDIENCE[:2000]
    sampled = recipients_to_poll(AUDIENCE, "s", sample_above=2000)
    assert len(sampled) == sample_size(5000) and set(sampled) <= set(AUDIENCE)
    assert len(recipients_to_poll(AUDIENCE, "s", sample_above=2000, budget=250)) == 250


@pytest.mark.parametrize(
    ("population", "margin", "expected"),
    [
        # n0 = 1.959964² / (4·0.02²) = 2400.9; n = n0 / (1 + (n0 − 1)/N), rounded up.
        (50_000, 0.02, 2291),
        (1_000_000, 0.02, 2396),
        (50_000, 0.03, 1045),
        (100, 0.02, 97),
        (0, 0.02, 0),
    ],
)
def test_sample_size_for_a_margin(population: int, margin: float, expected: int) -> None:
    assert sample_size(population, margin=margin) == expected


def test_the_budget_caps_the_sample() -> None:
    assert sample_size(50_000, budget=500) == 500
    assert sample_size(50_000, budget=10_000) == 2291
