"""The polling schedule: 1 min, 10 min, 1 h, 24 h after sending; READ stops it; lateness skips."""

from __future__ import annotations

import pytest

from worker.messaging.imrest.polling import PollSchedule

SENT = 1_000_000.0


def test_the_default_schedule_polls_four_times_then_stops() -> None:
    schedule = PollSchedule()
    at = schedule.first(SENT)
    polls = []
    while at is not None:
        polls.append(at - SENT)
        at = schedule.after(SENT, at, "DELIVERED")
    assert polls == [60.0, 600.0, 3600.0, 86400.0]
    assert schedule.polls_at_most == 4


def test_read_is_final_and_stops_polling_early() -> None:
    schedule = PollSchedule()
    assert schedule.after(SENT, SENT + 60, "READ") is None
    assert schedule.after(SENT, SENT + 60, "SENT") == SENT + 600


def test_a_late_poll_skips_the_polls_it_missed() -> None:
    # The worker was down from 1 min to 2 h: one poll now, then the 24 h one, not three at once.
    assert PollSchedule().after(SENT, SENT + 7200, "DELIVERED") == SENT + 86400


def test_a_poll_that_failed_without_a_status_keeps_the_schedule() -> None:
    assert PollSchedule().after(SENT, SENT + 60, None) == SENT + 600


def test_the_delays_are_a_setting() -> None:
    schedule = PollSchedule.of([0.5, 2, 4])
    assert schedule.first(SENT) == SENT + 0.5
    assert schedule.after(SENT, SENT + 2, "SENT") == SENT + 4


@pytest.mark.parametrize("delays", [(), (0.0, 1.0), (10.0, 5.0), (1.0, 1.0), tuple(range(1, 30))])
def test_bad_delays_are_refused_naming_the_setting(delays: tuple[float, ...]) -> None:
    with pytest.raises(ValueError, match="poll_delays"):
        PollSchedule(delays)
