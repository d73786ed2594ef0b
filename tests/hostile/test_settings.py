"""Hostile settings (issue 13, item 5): a bad value is one line that never echoes a secret."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.cli.conftest import Cli
from worker.api import redact as redact_url
from worker.config import ConfigError, load_settings

# A password no message has any other reason to contain.
passwords = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=40
).map(lambda tail: "S3CR3T" + tail.replace("@", "").replace("/", ""))


def _error(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> str:
    monkeypatch.setenv(name, value)
    try:
        with pytest.raises(ConfigError) as caught:
            load_settings()
    finally:
        monkeypatch.delenv(name)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(name + ":")
    return message


def test_the_common_postgres_scheme_is_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BLAZECAST_DATABASE_URL", "postgres://u:pw@db/x")
    assert load_settings().database_url == "postgresql://u:pw@db/x"


@pytest.mark.parametrize(
    ("name", "template"),
    [
        ("BLAZECAST_DATABASE_URL", "mysql://ops:{}@db/x"),
        ("BLAZECAST_DATABASE_URL", "postgresql://ops:{}@db:port/x"),
        ("BLAZECAST_DATABASE_URL", "mysql://db/x?user=ops&password={}"),
        ("BLAZECAST_REDIS_URL", "http://:{}@cache:6379/0"),
        ("BLAZECAST_REDIS_URL", "redis://:{}@cache:notaport/0"),
        ("BLAZECAST_FLOWER_BASIC_AUTH", "{}"),
        ("BLAZECAST_FLOWER_BASIC_AUTH", ":{}"),
    ],
)
def test_a_rejected_setting_never_shows_its_password(
    monkeypatch: pytest.MonkeyPatch, name: str, template: str
) -> None:
    message = _error(monkeypatch, name, template.format("S3CR3Tpw"))
    assert "S3CR3T" not in message, message


@given(password=passwords)
def test_any_password_in_a_refused_url_is_masked(password: str) -> None:
    with pytest.MonkeyPatch.context() as monkeypatch:
        message = _error(monkeypatch, "BLAZECAST_DATABASE_URL", f"mysql://ops:{password}@db/x")
    assert "S3CR3T" not in message


@given(url=st.text(max_size=200))
def test_redact_url_never_raises_and_never_grows_a_password(url: str) -> None:
    shown = redact_url(url + ":S3CR3T@host")
    assert "S3CR3T" not in shown


def test_the_cli_prints_the_masked_line_not_a_traceback(cli: Cli) -> None:
    cli.env["BLAZECAST_DATABASE_URL"] = "postgresql://u:S3CR3T@db:port/x"
    assert cli.fails("announce", "list") == (
        "error: BLAZECAST_DATABASE_URL: is not a valid URL (check the host and the port)"
        " (got postgresql://u:***@db:port/x)"
    )


@pytest.mark.parametrize("quota", ["1", "0", "-5", "1e9", "lots"])
def test_a_quota_that_cannot_pace_is_one_line(monkeypatch: pytest.MonkeyPatch, quota: str) -> None:
    # A quota of 1 passed the settings and then made every bucket raise ValueError.
    message = _error(monkeypatch, "BLAZECAST_QUOTA_PER_MINUTE", quota)
    assert "Input should be" in message
