"""Replies classified into blazecast's error tree (spec §1.3, §5), from status, headers, bytes."""

from __future__ import annotations

import json
from typing import Any

import pytest

from worker.messaging.errors import (
    BadRequest,
    Forbidden,
    InvalidData,
    MessagingError,
    PermanentError,
    RateLimited,
    ServerError,
    TransientError,
    Unauthorized,
)
from worker.messaging.imrest.responses import read_envelope

TOKEN = "sim-admin-0123456789abcdef"


def reply(code: int, message: str | None = None, data: Any = None, **beside: Any) -> bytes:
    return json.dumps({"code": code, "data": data, "message": message, **beside}).encode()


def error_of(status: int, body: bytes, headers: dict[str, str] | None = None) -> MessagingError:
    with pytest.raises(MessagingError) as caught:
        read_envelope(status, headers or {}, body)
    return caught.value


def test_success_returns_the_whole_envelope() -> None:
    envelope = read_envelope(200, {}, reply(200, data=True, msg_ids=[8725424416047360]))
    assert envelope["data"] is True and envelope["msg_ids"] == [8725424416047360]
    # A missing message means success too (the QS: example omits it).
    assert read_envelope(200, {}, b'{"code": 200, "data": true}')["data"] is True


@pytest.mark.parametrize(
    ("code", "words"),
    [
        (10003, "no access-token"),
        (10008, "rejected the access token"),
        (10010, "no permission"),
        (30021, "licence is invalid"),
        (30022, "licence has expired"),
        (30023, "licence limit"),
        (40000, "does not know this app_id"),
    ],
)
def test_configuration_codes_stop_the_provider_in_plain_words(code: int, words: str) -> None:
    error = error_of(200, reply(code, "Invalid access-token in header"))
    assert type(error) is Unauthorized
    assert error.code == code and words in error.description
    assert str(error).startswith(f"IM REST error {code}: ")
    assert "server: Invalid access-token in header" in str(error)


@pytest.mark.parametrize("code", [30000, 30024, 30999, 39999])
def test_every_licence_code_stops_the_provider_naming_the_licence(code: int) -> None:
    # §5.1 documents 30021-30023; the whole 3xxxx family is the licence system.
    error = error_of(200, reply(code, "licence"))
    assert type(error) is Unauthorized and "licence" in error.description


@pytest.mark.parametrize("code", [10000, 20001, 20002])
def test_target_codes_are_forbidden_so_the_batch_can_be_split(code: int) -> None:
    error = error_of(200, reply(code, "User does not exist"))
    assert type(error) is Forbidden and isinstance(error, PermanentError)


def test_invalid_parameter_is_invalid_data() -> None:
    assert type(error_of(200, reply(10002, "targets is required"))) is InvalidData


@pytest.mark.parametrize("code", [20000, 500, 503])
def test_server_side_codes_are_retried(code: int) -> None:
    assert type(error_of(200, reply(code))) is ServerError


def test_an_unknown_code_is_a_plain_transient_error() -> None:
    error = error_of(200, reply(12345, "something new"))
    assert type(error) is TransientError
    assert "unknown IM REST code" in str(error) and "something new" in str(error)


def test_http_429_is_rate_limited_and_honours_retry_after() -> None:
    error = error_of(429, reply(429, "Too many requests"), {"Retry-After": "3"})
    assert isinstance(error, RateLimited) and error.retry_after == 3.0
    assert isinstance(error_of(429, b"slow down", {"retry-after": "Wed, 21 Oct 2015"}), RateLimited)


def test_code_429_in_a_200_envelope_is_rate_limited_too() -> None:
    assert isinstance(error_of(200, reply(429)), RateLimited)


def test_a_bare_500_is_a_server_error_that_quotes_the_body() -> None:
    error = error_of(500, b"<html><body>500 Internal Server Error</body></html>")
    assert type(error) is ServerError and error.status == 500
    assert "500 Internal Server Error" in str(error)


@pytest.mark.parametrize("body", [b"<html>ok</html>", b"", b"[1, 2]", b'{"data": true}'])
def test_a_200_without_the_envelope_is_a_server_error(body: bytes) -> None:
    assert type(error_of(200, body)) is ServerError


@pytest.mark.parametrize("status", [401, 403])
def test_http_401_and_403_stop_the_provider(status: int) -> None:
    error = error_of(status, b"Unauthorized")
    assert type(error) is Unauthorized and f"HTTP {status}" in str(error)


def test_a_4xx_with_a_business_code_is_classified_by_the_code() -> None:
    error = error_of(401, reply(10008, "Invalid access-token in header"))
    assert type(error) is Unauthorized and error.code == 10008
    assert type(error_of(400, reply(10002, "bad"))) is InvalidData


def test_http_404_stops_the_provider_and_names_the_base_url() -> None:
    # A wrong base URL is the bot's setting, not a recipient's fault: halt, never split and fail.
    error = error_of(404, reply(404, "no such path"))
    assert type(error) is Unauthorized and "base URL" in str(error)
    assert type(error_of(404, b"<html>Not Found</html>")) is Unauthorized


def test_other_client_errors_are_bad_requests() -> None:
    assert type(error_of(405, b"405: use POST")) is BadRequest


def test_errors_never_show_the_token() -> None:
    # The client never puts the token in a description; the server's text is all that is quoted.
    for code in (10003, 10008, 40000):
        error = error_of(200, reply(code, "Invalid access-token in header"))
        assert TOKEN not in str(error) and TOKEN not in repr(error)
