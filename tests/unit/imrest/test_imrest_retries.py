"""After a transient failure: retry inside the horizon, mark unknown after it, and give up on an
unknown code after a bounded number of retries (spec §3.2, §5.1)."""

from __future__ import annotations

from typing import Any

import pytest

from worker.messaging.errors import (
    ConnectionLost,
    RateLimited,
    RequestTimeout,
    ServerError,
    TransientError,
)
from worker.messaging.imrest.codes import classify_code
from worker.messaging.imrest.retries import after_transient, is_unknown_code
from worker.messaging.imrest.settings import ImRestSettings

START = 500.0


def settings(**overrides: Any) -> ImRestSettings:
    values: dict[str, Any] = {
        "base_url": "http://127.0.0.1:7100",
        "app_id": "blazecast-demo",
        "access_token": "sim-admin-token",
        "from_user_id": 1099511627001,
    }
    values.update(overrides)
    return ImRestSettings(**values)


def verdict(error: TransientError, failures: int, after: float, **overrides: Any) -> str:
    return after_transient(
        error,
        failures=failures,
        first_attempt_at=START,
        now=START + after,
        settings=settings(**overrides),
    )


KNOWN_TRANSIENT = [
    ConnectionLost("reset", provider="IM REST"),
    RequestTimeout("no reply", provider="IM REST"),
    classify_code(20000, "Server database exception"),
    classify_code(503, None),
    classify_code(429, None),
]


@pytest.mark.parametrize("error", KNOWN_TRANSIENT)
def test_known_transient_failures_retry_within_the_horizon(error: TransientError) -> None:
    assert type(error) in (ConnectionLost, RequestTimeout, ServerError, RateLimited)
    assert not is_unknown_code(error)
    assert verdict(error, failures=7, after=59.0) == "retry"


@pytest.mark.parametrize("error", KNOWN_TRANSIENT)
def test_past_the_horizon_the_fate_is_unknown_unless_resend_is_chosen(
    error: TransientError,
) -> None:
    assert verdict(error, failures=2, after=60.0) == "unknown"
    assert verdict(error, failures=2, after=60.0, after_horizon="resend") == "retry"


def test_an_unknown_code_is_retried_three_times_then_fails() -> None:
    error = classify_code(12345, "something new")
    assert is_unknown_code(error)
    # Attempt 1 failed, then retries 1..3 (attempts 2..4) fail too: the 4th failure gives up.
    assert [verdict(error, failures=n, after=5.0) for n in (1, 2, 3, 4)] == [
        "retry",
        "retry",
        "retry",
        "give_up",
    ]
    assert verdict(error, failures=2, after=5.0, unknown_code_retries=1) == "give_up"


def test_a_mixin_transient_error_is_not_an_imrest_unknown_code() -> None:
    assert not is_unknown_code(TransientError("odd", code=12345))


def test_failures_count_from_one() -> None:
    with pytest.raises(ValueError, match="failures"):
        verdict(ServerError("x"), failures=0, after=1.0)
