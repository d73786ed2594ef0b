"""A reason split into the part deliveries share and the part that is one recipient's own."""

from __future__ import annotations

import pytest

from worker.broadcast.reasons import REASON_LIMIT, split

REFUSED = "mixin error 403: Forbidden"


@pytest.mark.parametrize(
    ("reason", "shared", "detail"),
    [
        ("cancelled", "cancelled", None),
        ("", "", None),
        (f"{REFUSED} (details: user 7)", REFUSED, " (details: user 7)"),
        (f"{REFUSED} [request r-1]", REFUSED, " [request r-1]"),
        (f"{REFUSED} (details: user 7) [request r-1]", REFUSED, " (details: user 7) [request r-1]"),
        # Nothing but a detail: the shared part is empty, not missing.
        (" (details: user 7)", "", " (details: user 7)"),
        (" [request r-1]", "", " [request r-1]"),
        # The details run to the end, whatever follows them, a second "(details:" included.
        (
            f"{REFUSED} (details: {{'why': 'x (details: y)'}}) then retried",
            REFUSED,
            " (details: {'why': 'x (details: y)'}) then retried",
        ),
        # A request id is a detail only last; "(details:" not after a space is none.
        (f"{REFUSED} [request r-1] then retried", f"{REFUSED} [request r-1] then retried", None),
        (f"{REFUSED}(details: user 7)", f"{REFUSED}(details: user 7)", None),
        ("a [request r-1] [request r-2]", "a [request r-1]", " [request r-2]"),
        # Newlines: inside the details they are details; after a request id, the id is not last.
        (f"{REFUSED} (details: a\nb)", REFUSED, " (details: a\nb)"),
        (f"{REFUSED} [request r-1]\n", f"{REFUSED} [request r-1]\n", None),
    ],
)
def test_a_reason_splits_into_its_shared_part_and_its_detail(
    reason: str, shared: str, detail: str | None
) -> None:
    assert split(reason) == (shared, detail)


def test_the_bound_holds_for_the_two_parts_together() -> None:
    detail = " (details: user 7) [request r-1]"
    at_bound = "x" * (REASON_LIMIT - len(detail)) + detail
    assert split(at_bound) == ("x" * (REASON_LIMIT - len(detail)), detail)

    # Cut inside the details: what is left of them is still the detail.
    over = "x" * (REASON_LIMIT - 15) + detail
    assert split(over) == ("x" * (REASON_LIMIT - 15), detail[:15])

    # Cut inside a request id: its "]" is gone, so it is no detail and the text is one reason.
    request = " [request r-123456789]"
    cut = "y" * (REASON_LIMIT - 5) + request
    assert split(cut) == (cut[:REASON_LIMIT], None)

    for reason in (at_bound, over, cut, "é" * (REASON_LIMIT + 50)):
        shared, tail = split(reason)
        assert shared + (tail or "") == reason[:REASON_LIMIT]
