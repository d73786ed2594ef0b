"""Running ``blazecast`` in-process, as an operator would, against the test database and Redis.

``blazecast`` reads its settings from the environment once per process (``get_settings`` is
cached); ``cli`` points the environment at the test engines and clears that cache, and
``run`` goes through ``worker.cli.main.main`` itself, so error handling and exit codes are the
real ones.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.environment import engine_env
from worker.cli.main import main
from worker.config import Settings, get_settings
from worker.db import Database


@dataclass(frozen=True)
class Outcome:
    exit_code: int
    stdout: str
    stderr: str


class Cli:
    def __init__(self, env: dict[str, str]) -> None:
        self.env = env

    def run(self, *args: str, input: str | None = None) -> Outcome:
        runner = CliRunner()
        get_settings.cache_clear()
        code = 0
        with runner.isolation(input=input, env=self.env) as (out, err, _):
            argv, sys.argv = sys.argv, ["blazecast", *args]
            try:
                main()
            except SystemExit as exit_:
                code = exit_.code if isinstance(exit_.code, int) else 1
            finally:
                sys.argv = argv
                get_settings.cache_clear()
            return Outcome(code, out.getvalue().decode(), err.getvalue().decode())

    def ok(self, *args: str, input: str | None = None) -> str:
        """Run and insist on success; returns stdout."""
        outcome = self.run(*args, input=input)
        assert outcome.exit_code == 0, f"exit {outcome.exit_code}: {outcome.stderr}{outcome.stdout}"
        return outcome.stdout

    def fails(self, *args: str, input: str | None = None) -> str:
        """Run and insist on a one-line error with a non-zero exit; returns that line."""
        outcome = self.run(*args, input=input)
        assert outcome.exit_code != 0, outcome.stdout
        lines = [line for line in outcome.stderr.splitlines() if line.strip()]
        assert len(lines) == 1, outcome.stderr
        assert "Traceback" not in outcome.stderr
        return lines[0]


@pytest.fixture
def cli(settings: Settings, clean_db: Database, tmp_path: Path) -> Iterator[Cli]:
    """A blazecast command line on the (emptied) test database."""
    env = {
        **engine_env(settings, tmp_path / "home"),
        "BLAZECAST_KEYSTORE": "",
        "COLUMNS": "200",
    }
    yield Cli(env)
    get_settings.cache_clear()
