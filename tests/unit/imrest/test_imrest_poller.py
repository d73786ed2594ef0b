"""The provider side of status polling: what one walk means, who is sampled, the next poll, and
the poll-share bucket's arithmetic."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from worker.messaging.imrest import ImRestSettings
from worker.messaging.imrest.marker import Marker
from worker.messaging.imrest.poller import ImRestPoller, ImRestStatusPolling
from worker.messaging.imrest.status import StatusRow
from worker.messaging.provider import OutOfTokens
from worker.ratelimit import poll_share_spec, quota_spec

SETTINGS = ImRestSettings(
    base_url="http://127.0.0.1:9",
    app_id="app",
    access_token="-",
    from_user_id=7,
    poll_delays=(1.0, 3.0, 6.0),
    sample_above=2000,
    sample_margin=0.02,
)


class Walks:
    """Stands in for ``ImRestTransport.conversation_status``: given rows, and pages paid for."""

    def __init__(self, rows: list[StatusRow], pages: int = 1) -> None:
        self.rows, self.pages = rows, pages

    def conversation_status(
        self, user: int, *, marker: Marker, since_ms: int, before_page: Callable[[], bool]
    ) -> list[StatusRow]:
        for page in range(self.pages):
            if not before_page():
                raise OutOfTokens(f"page {page + 1}")
        return self.rows

    def close(self) -> None:
        pass


def row(msg_id: int, status: Any, word: str) -> StatusRow:
    return StatusRow(msg_id, 42, status, word, 0, None)


def test_the_furthest_status_of_the_recipients_messages_is_the_one_kept() -> None:
    poller = ImRestPoller(Walks([row(9, "SENT", "UNREAD"), row(5, "READ", "READ")]))  # type: ignore[arg-type]
    seen = poller.poll("42", "a", since_ms=0, take_page=lambda: True)
    assert (seen.status, seen.receipt, seen.msg_id) == ("READ", "READ", 5)


def test_unread_moves_nothing_and_no_message_is_missing() -> None:
    unread = ImRestPoller(Walks([row(3, "SENT", "UNREAD")]))  # type: ignore[arg-type]
    assert unread.poll("42", "a", since_ms=0, take_page=lambda: True).receipt is None
    missing = ImRestPoller(Walks([])).poll("42", "a", since_ms=0, take_page=lambda: True)  # type: ignore[arg-type]
    assert (missing.status, missing.receipt, missing.msg_id) == ("MISSING", None, None)


def test_each_page_is_paid_for_and_a_walk_stops_when_the_budget_is_out() -> None:
    tokens = iter([True, True, False])
    poller = ImRestPoller(Walks([row(1, "READ", "READ")], pages=3))  # type: ignore[arg-type]
    with pytest.raises(OutOfTokens):
        poller.poll("42", "a", since_ms=0, take_page=lambda: next(tokens))


def test_small_audiences_are_polled_in_full_and_large_ones_sampled() -> None:
    polling = ImRestStatusPolling(SETTINGS, lambda: None)  # type: ignore[arg-type,return-value]
    assert polling.sample_size(2000) == 2000
    assert polling.sample_size(50_000) == 2291
    assert polling.sample_size(1_000_000) == 2396


def test_the_next_poll_follows_the_schedule_and_read_or_the_end_stops_it() -> None:
    polling = ImRestStatusPolling(SETTINGS, lambda: None)  # type: ignore[arg-type,return-value]
    assert polling.next_poll(100.0, 101.0, "UNREAD") == 103.0
    assert polling.next_poll(100.0, 101.0, "MISSING") == 103.0  # not found yet: look again
    assert polling.next_poll(100.0, 103.2, "DELIVERED") == 106.0
    assert polling.next_poll(100.0, 101.0, "READ") is None
    assert polling.next_poll(100.0, 106.5, "DELIVERED") is None


@pytest.mark.parametrize("quota", [2, 10, 600, 6000, 100_000])
@pytest.mark.parametrize("share", [0.05, 0.2, 0.5])
def test_the_poll_share_never_grants_more_than_its_share_of_the_quota(
    quota: int, share: float
) -> None:
    spec = poll_share_spec("1", quota, share)
    limit = max(2, int(quota * share))
    # In any window of 60 + Δ seconds: burst + rate·(60 + Δ) ≤ the share (spec_for_limit).
    assert spec.burst + spec.rate_per_second * 60.5 <= limit + 1e-9
    assert spec.send_unit == 1
    assert spec.key != quota_spec("1", quota).key
