"""HTTP envelopes and the plain-words 401 diagnosis, as pure functions."""

from __future__ import annotations

import pytest

from worker.messaging.errors import BadRequest, Forbidden, RateLimited, ServerError, Unauthorized
from worker.messaging.mixin.responses import (
    explain_unauthorized,
    interpret_response,
    parse_server_time,
)

NOW = 1_700_000_000.0


def interpret(status: int, body: bytes, **headers: str):
    return interpret_response(
        status_code=status, headers=headers, body=body, request_id="rid", local_time=NOW
    )


def test_success_returns_data_and_empty_bodies_are_fine():
    assert interpret(200, b'{"data": {"user_id": "u"}}') == {"user_id": "u"}
    assert interpret(200, b"{}") is None
    assert interpret(201, b"") is None


def test_the_error_envelope_wins_over_the_202_status():
    with pytest.raises(Forbidden) as caught:
        interpret(202, b'{"error": {"status": 202, "code": 403, "description": "Forbidden."}}')
    assert caught.value.request_id == "rid" and caught.value.status == 202
    # The reason operators read (in `announce show` and the report) does not mention the 202.
    assert str(caught.value) == "Mixin error 403: Forbidden. [request rid]"


def test_intermediary_4xx_without_a_mixin_body_still_classify():
    with pytest.raises(RateLimited) as caught:
        interpret(429, b"slow down", **{"retry-after": "7"})
    assert caught.value.retry_after == 7.0
    with pytest.raises(BadRequest):
        interpret(400, b"")


def test_non_json_success_and_5xx_are_server_errors_with_a_short_snippet():
    with pytest.raises(ServerError) as caught:
        interpret(503, b"<html>" + b"x" * 500 + b"</html>")
    assert len(str(caught.value)) < 250
    with pytest.raises(ServerError, match="not JSON"):
        interpret(200, b"<html>ok</html>")


def test_server_time_comes_from_x_server_time_nanoseconds_or_the_date_header():
    assert parse_server_time({"X-Server-Time": "1700000000123456789"}) == pytest.approx(
        1700000000.123456789
    )
    assert parse_server_time({"date": "Tue, 14 Nov 2023 22:13:20 GMT"}) == NOW
    assert parse_server_time({"x-server-time": "garbage"}) is None


@pytest.mark.parametrize(
    "offset, reason", [(301, "clock skew"), (-301, "clock skew"), (299, "invalid credentials")]
)
def test_five_minutes_of_skew_either_way_is_blamed_on_the_clock(offset, reason):
    error = explain_unauthorized(server_time=NOW + offset, local_time=NOW, probe="rejected")
    assert isinstance(error, Unauthorized) and error.reason == reason
    if reason == "clock skew":
        assert error.skew_seconds == offset
        assert ("behind" if offset > 0 else "ahead of") in str(error)


@pytest.mark.parametrize(
    "probe, words",
    [
        ("rejected", "GET /me refused them too"),
        ("accepted", "although GET /me accepted the same key"),
        ("unreachable", "could not be reached"),
    ],
)
def test_invalid_credentials_are_explained_by_what_the_probe_saw(probe, words):
    error = explain_unauthorized(server_time=None, local_time=NOW, probe=probe)
    assert error.reason == "invalid credentials" and words in str(error)


def test_http_401_reads_the_clock_from_its_own_response():
    body = b'{"error": {"status": 202, "code": 401, "description": "Unauthorized, maybe invalid token."}}'
    with pytest.raises(Unauthorized) as caught:
        interpret(202, body, **{"X-Server-Time": str(int((NOW - 3600) * 1e9))})
    assert caught.value.reason == "clock skew" and caught.value.skew_seconds == pytest.approx(-3600)
