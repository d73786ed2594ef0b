"""The deterministic transaction_id of spec §3.2, against its published test vectors."""

from __future__ import annotations

import pytest

from worker.messaging.imrest.transaction import MAX_SAFE_ID, transaction_id

ANNOUNCEMENT = "3f1c2d4e-5a6b-4c7d-8e9f-0a1b2c3d4e5f"
THREE = [1099511627002, 1099511627003, 1099511627004]


@pytest.mark.parametrize(
    ("endpoint", "targets", "expected"),
    [
        ("send", THREE, 3122641868399794),
        ("notify", THREE, 7178256230690950),
        ("send", [1099511627002], 6195371454398710),
    ],
)
def test_spec_vectors(endpoint: str, targets: list[int], expected: int) -> None:
    assert transaction_id(ANNOUNCEMENT, endpoint, 1, targets) == expected


def test_target_order_does_not_change_the_id() -> None:
    assert transaction_id(ANNOUNCEMENT, "send", 1, reversed(THREE)) == 3122641868399794


def test_every_part_of_the_key_changes_the_id() -> None:
    base = transaction_id(ANNOUNCEMENT, "send", 1, THREE)
    others = {
        transaction_id("3f1c2d4e-5a6b-4c7d-8e9f-0a1b2c3d4e60", "send", 1, THREE),
        transaction_id(ANNOUNCEMENT, "send", 2, THREE),
        transaction_id(ANNOUNCEMENT, "send", 1, THREE[:2]),
    }
    assert base not in others and len(others) == 3


def test_ids_stay_positive_and_json_safe() -> None:
    ids = [transaction_id(ANNOUNCEMENT, "send", 1, [1099511627002 + n]) for n in range(2000)]
    assert all(0 < value <= MAX_SAFE_ID for value in ids)
    assert len(set(ids)) == len(ids)
