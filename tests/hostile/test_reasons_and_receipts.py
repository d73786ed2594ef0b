"""Hostile input, session 5's edges: a provider's error text as a stored reason, receipts joined
into one text per list, and the listener's one-call inflate of small frames.

- A provider's error can quote anything (DESIGN invariant 13). Since reasons are stored once
  (``worker/broadcast/reasons.py``), the text is split into a shared part and a per-recipient
  detail: for any text the two must join back into what was recorded, and the report must give it
  back exactly, whatever it holds.
- The receipts' apply statement takes each list as one comma-separated text: a field holding a
  comma would shift the lists against each other, so such a receipt is dropped, the rest applied.
- A frame small enough that it cannot inflate past the bound is inflated in one call: it must
  refuse what the bounded decompressor refuses and accept what it accepts.
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import io
import json
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from models import Delivery, DeliveryState
from tests.factories import add_announcement, add_recipients
from tests.integration.broadcast.pipeline import start_and_plan
from worker.broadcast import outcomes
from worker.broadcast.reasons import REASON_LIMIT, split
from worker.broadcast.receipts import Receipt, apply_receipts
from worker.db import Database
from worker.messaging.mixin.frames import FrameError, OversizedFrame, decode_frame
from worker.report import write_outcomes

pytestmark = pytest.mark.hostile

# Texts that look like the per-recipient tail, or almost: what a provider could quote.
_TAILS = st.sampled_from(
    [
        "",
        " (details: user 1)",
        " (details: ",
        " [request ]",
        " [request a]b",
        " [request a] [request b]",
        " (details: (details: x) [request y])",
        "\n(details: x)",
        " (details: x\n)",
        "]",
    ]
)
_TEXTS = st.builds(lambda head, tail: head + tail, st.text(max_size=600), _TAILS)


@given(_TEXTS)
def test_any_error_text_splits_into_parts_that_join_back_into_the_bounded_text(text: str) -> None:
    shared, detail = split(text)
    assert shared + (detail or "") == text[:REASON_LIMIT]
    # A detail is only ever the very end of the text, and starts with its space.
    assert detail is None or (detail.startswith(" ") and text[:REASON_LIMIT].endswith(detail))


@pytest.mark.parametrize(
    "error",
    [
        "mixin error 403: Forbidden (details: user ' OR 1=1 --) [request ;DROP TABLE x]",
        "é" * (REASON_LIMIT + 10) + " (details: cut)",
        "(details: only a detail)",
        'a,b\n"quoted"\r\n(details: ,)',
        "\u202e\U0001f4a5 [request 0]",
        " [request a] [request b]",
    ],
)
def test_a_hostile_error_is_given_back_exactly_by_the_report(
    clean_db: Database, error: str
) -> None:
    with clean_db.session() as session:
        add_recipients(session, 3)
        announcement_id = add_announcement(session, "Hostile reasons").id
    start_and_plan(clean_db, announcement_id)
    with clean_db.session() as session:
        ids = list(
            session.execute(
                select(Delivery.id).where(Delivery.announcement_id == announcement_id)
            ).scalars()
        )
        outcomes.record_failed(session.connection(), announcement_id, ids, error)
    with clean_db.session() as session:
        handle = io.StringIO()
        write_outcomes(session, announcement_id, handle)
    rows = list(csv.DictReader(io.StringIO(handle.getvalue())))
    assert len(rows) == 3
    reason_column = next(k for k in rows[0] if "error" in k or "reason" in k)
    assert {row[reason_column] for row in rows} == {error[:REASON_LIMIT]}


def test_receipts_with_commas_or_junk_in_a_field_are_dropped_and_the_rest_applied(
    clean_db: Database,
) -> None:
    with clean_db.session() as session:
        add_recipients(session, 20)
        announcement_id = add_announcement(session, "Hostile receipts").id
    start_and_plan(clean_db, announcement_id)
    with clean_db.session() as session:
        ids = [
            str(m)
            for m in session.execute(
                select(Delivery.message_id).where(Delivery.announcement_id == announcement_id)
            ).scalars()
        ]
        outcomes.record_sent(
            session.connection(),
            announcement_id,
            list(
                session.execute(
                    select(Delivery.id).where(Delivery.announcement_id == announcement_id)
                ).scalars()
            ),
        )
    at = datetime.now(UTC)
    good = [(m, "READ", at) for m in ids[:10]]
    bad: list[Receipt] = [
        (ids[10] + ",x", "READ", at),  # would shift the ids against the statuses
        (ids[11], "READ,DELIVERED", at),
        (ids[12], "READ", "2026-12-02T00:00:00Z,2026-12-03T00:00:00Z"),
    ]
    with clean_db.session() as session:
        applied = apply_receipts(session, [*bad[:1], *good[:5], *bad[1:], *good[5:]])
    assert applied.newly_read == 10
    with clean_db.session() as session:
        read = set(
            str(m)
            for m in session.execute(
                select(Delivery.message_id).where(
                    Delivery.announcement_id == announcement_id,
                    Delivery.state == DeliveryState.READ,
                )
            ).scalars()
        )
    assert read == set(ids[:10])


@given(st.binary(max_size=400), st.integers(min_value=0, max_value=400))
def test_a_small_frame_is_refused_or_read_alike_by_both_inflate_paths(
    body: bytes, cut: int
) -> None:
    """Small frames take the one-call path; the same bytes with a bound just too small for it
    take the bounded decompressor: both give the same dict or both refuse."""
    payload = gzip.compress(json.dumps({"b": body.hex()}).encode())[: cut or None]

    def outcome(max_bytes: int) -> object:
        try:
            return decode_frame(payload, max_bytes)
        except OversizedFrame:
            return "oversized"
        except FrameError:
            return "refused"

    fast = outcome(len(payload) * 1032)
    bounded = outcome(len(payload) * 1032 - 1)
    if bounded != "oversized":  # the bound may bite the bounded path first
        assert fast == bounded


@given(st.binary(max_size=2_000))
def test_random_bytes_are_a_frame_error_never_another_exception(payload: bytes) -> None:
    with contextlib.suppress(FrameError):
        decode_frame(payload)
    with contextlib.suppress(FrameError):
        decode_frame(gzip.compress(payload))
