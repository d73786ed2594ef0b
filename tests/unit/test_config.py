"""Settings: defaults, the environment, and one clear line naming a bad variable."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from worker.config import ConfigError, default_home, load_settings


def test_defaults_match_the_design_brief(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DATABASE_URL", "REDIS_URL", "QUOTA_PER_MINUTE", "TRANSPORT", "HOME"):
        monkeypatch.delenv(f"BLAZECAST_{name}", raising=False)
    settings = load_settings()
    assert settings.database_url is None and settings.redis_url is None
    assert settings.quota_per_minute == 100_000
    assert settings.transport == "blaze"
    assert settings.mixin_api_url == "https://api.mixin.one"
    assert settings.mixin_blaze_url == "wss://blaze.mixin.one"
    assert settings.home == default_home()


def test_the_default_home_does_not_depend_on_the_working_folder(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("BLAZECAST_HOME", raising=False)
    monkeypatch.setattr("os.geteuid", lambda: 1000)
    monkeypatch.setattr("sys.platform", "linux")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    homes = set()
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        monkeypatch.chdir(tmp_path / folder)
        homes.add(load_settings().home.resolve())
    assert homes == {tmp_path / "data" / "blazecast"}
    monkeypatch.setattr("os.geteuid", lambda: 0)
    assert load_settings().home == Path("/var/lib/blazecast")
    monkeypatch.setenv("BLAZECAST_HOME", "here")  # the variable still wins
    assert load_settings().home == Path("here")


def test_environment_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BLAZECAST_QUOTA_PER_MINUTE", "600")
    monkeypatch.setenv("BLAZECAST_TRANSPORT", "http")
    monkeypatch.setenv("BLAZECAST_DATABASE_URL", "")  # empty means unset
    settings = load_settings()
    assert (settings.quota_per_minute, settings.transport) == (600, "http")
    assert settings.database_url is None


def test_settings_are_frozen() -> None:
    settings = load_settings()
    with pytest.raises(Exception, match="frozen"):
        settings.quota_per_minute = 5  # type: ignore[misc]


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        (
            "BLAZECAST_QUOTA_PER_MINUTE",
            "lots",
            "BLAZECAST_QUOTA_PER_MINUTE: Input should be a valid",
        ),
        ("BLAZECAST_QUOTA_PER_MINUTE", "0", "BLAZECAST_QUOTA_PER_MINUTE: Input should be greater"),
        ("BLAZECAST_TRANSPORT", "pigeon", "BLAZECAST_TRANSPORT: Input should be 'blaze' or 'http'"),
        ("BLAZECAST_DATABASE_URL", "mysql://x", "BLAZECAST_DATABASE_URL: must be a postgresql://"),
        ("BLAZECAST_BATCH_SIZE", "101", "BLAZECAST_BATCH_SIZE: Input should be less than"),
        ("BLAZECAST_FLOWER_BASIC_AUTH", "admin", "BLAZECAST_FLOWER_BASIC_AUTH: must look like"),
    ],
)
def test_a_bad_value_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert str(caught.value).startswith(expected)
    assert "\n" not in str(caught.value)


def test_cli_prints_one_line_for_a_bad_setting() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "worker.cli", "db", "upgrade"],
        env={"BLAZECAST_QUOTA_PER_MINUTE": "-5", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "error: BLAZECAST_QUOTA_PER_MINUTE: Input should be greater than or equal to 2 (got '-5')"
    ]


def test_only_a_send_only_worker_reserves_more_than_one_message_per_process() -> None:
    from worker.queues import CONTROL_QUEUE, RECEIPTS_QUEUE, SEND_QUEUE, prefetch_for

    assert prefetch_for(SEND_QUEUE) == 4
    assert prefetch_for(f" {SEND_QUEUE} ") == 4
    assert prefetch_for(f"{CONTROL_QUEUE},{RECEIPTS_QUEUE}") == 1
    assert prefetch_for(f"{SEND_QUEUE},{RECEIPTS_QUEUE},{CONTROL_QUEUE}") == 1
