"""Settings validation, the retry horizon policy, and the ext marker's round trip."""

from __future__ import annotations

from typing import Any

import pytest

from worker.messaging.imrest.marker import Marker, read_marker
from worker.messaging.imrest.settings import ImRestSettings

SECRET = "sim-admin-do-not-print-me"


def settings(**overrides: Any) -> ImRestSettings:
    values: dict[str, Any] = {
        "base_url": "http://127.0.0.1:7100",
        "app_id": "blazecast-demo",
        "access_token": SECRET,
        "from_user_id": 1099511627001,
    }
    values.update(overrides)
    return ImRestSettings(**values)


def test_defaults_are_the_spec_assumptions() -> None:
    s = settings()
    assert (s.timeout, s.batch_size, s.retry_horizon_seconds, s.endpoint, s.page_limit) == (
        10.0,
        100,
        60.0,
        "send",
        50,
    )
    assert s.after_horizon == "mark_unknown"
    assert (s.unknown_code_retries, s.sample_above, s.sample_margin, s.poll_share) == (
        3,
        2000,
        0.02,
        0.2,
    )
    assert s.poll_delays == (60.0, 600.0, 3600.0, 86400.0)
    assert s.poll_schedule.first(0.0) == 60.0


def test_the_token_is_never_shown() -> None:
    assert SECRET not in repr(settings()) and SECRET not in str(settings())


@pytest.mark.parametrize(
    ("overrides", "words"),
    [
        ({"base_url": "127.0.0.1:7100"}, "base_url"),
        ({"app_id": ""}, "app_id"),
        ({"access_token": ""}, "access_token"),
        ({"from_user_id": 0}, "from_user_id"),
        ({"batch_size": 101}, "batch_size"),
        ({"endpoint": "broadcast"}, "endpoint"),
        ({"unknown_code_retries": -1}, "unknown_code_retries"),
        ({"poll_delays": (600.0, 60.0)}, "poll_delays"),
        ({"sample_above": -1}, "sample_above"),
        ({"sample_margin": 0.0}, "sample_margin"),
        ({"poll_share": 1.0}, "poll_share"),
        ({"after_horizon": "retry"}, "after_horizon"),
        ({"timeout": 0}, "timeout"),
        ({"page_limit": 500}, "page_limit"),
    ],
)
def test_bad_settings_are_refused_naming_the_field(overrides: dict[str, Any], words: str) -> None:
    with pytest.raises(ValueError, match=words):
        settings(**overrides)


def test_a_retry_inside_the_horizon_is_always_allowed() -> None:
    assert settings().may_resend(first_attempt_at=100.0, now=159.9)


def test_after_the_horizon_only_the_resend_policy_sends_again() -> None:
    assert not settings().may_resend(first_attempt_at=100.0, now=160.0)
    assert settings(after_horizon="resend").may_resend(first_attempt_at=100.0, now=1000.0)


def test_marker_round_trip() -> None:
    marker = Marker("3f1c2d4e-5a6b-4c7d-8e9f-0a1b2c3d4e5f", 3122641868399794)
    assert read_marker(marker.to_ext()) == marker
    assert Marker(marker.announcement_id).matches(read_marker(marker.to_ext()))
    assert not Marker(marker.announcement_id, 1).matches(read_marker(marker.to_ext()))


@pytest.mark.parametrize("ext", ["", None, "[]", '{"blazecast": 1}', '{"other": {}}', "{bad json"])
def test_foreign_ext_values_are_not_markers(ext: object) -> None:
    assert read_marker(ext) is None


def test_a_marker_without_transaction_cannot_be_sent() -> None:
    with pytest.raises(ValueError):
        Marker("a").to_ext()
