"""The error tree: one classification that every caller relies on."""

from __future__ import annotations

import pytest

from worker.messaging.errors import (
    BadRequest,
    ConnectionLost,
    Forbidden,
    InvalidData,
    MessagingError,
    NotFound,
    PermanentError,
    RateLimited,
    RequestTimeout,
    ServerError,
    TransientError,
    Unauthorized,
    classify,
)


@pytest.mark.parametrize(
    "code, status, expected, family",
    [
        (429, 202, RateLimited, TransientError),
        (500, 500, ServerError, TransientError),
        (7000, 500, ServerError, TransientError),
        (7001, 500, ServerError, TransientError),
        (502, None, ServerError, TransientError),
        (20140, 202, TransientError, TransientError),
        (987654, 202, TransientError, TransientError),
        (401, 202, Unauthorized, PermanentError),
        (403, 202, Forbidden, PermanentError),
        (10002, 202, InvalidData, PermanentError),
        (400, 202, BadRequest, PermanentError),
        (404, 202, NotFound, PermanentError),
    ],
)
def test_codes_map_to_the_documented_family(code, status, expected, family):
    error = classify(code, "desc", status=status, request_id="r-1")
    assert type(error) is expected
    assert isinstance(error, family) and isinstance(error, MessagingError)
    assert (error.code, error.description, error.status, error.request_id) == (
        code,
        "desc",
        status,
        "r-1",
    )


def test_local_failures_are_transient():
    assert issubclass(ConnectionLost, TransientError)
    assert issubclass(RequestTimeout, TransientError)


def test_invalid_data_keeps_and_shows_the_servers_field_details():
    error = classify(
        10002, "The request data has invalid field", 202, extra={"field": "data_base64"}
    )
    assert isinstance(error, InvalidData)
    assert error.extra == {"field": "data_base64"}
    assert "data_base64" in str(error) and "10002" in str(error)


def test_rate_limited_reads_a_retry_hint_when_present():
    assert classify(429, "Too Many Requests.").retry_after is None  # type: ignore[attr-defined]
    hinted = classify(429, "Too Many Requests.", extra={"retry_after": 2.5})
    assert isinstance(hinted, RateLimited) and hinted.retry_after == 2.5


def test_unauthorized_defaults_to_invalid_credentials():
    error = classify(401, "Unauthorized, maybe invalid token.")
    assert isinstance(error, Unauthorized)
    assert error.reason == "invalid credentials" and error.skew_seconds is None
