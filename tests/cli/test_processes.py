"""``blazecast worker|listen|flower`` refuse to start half-configured; Flower always asks for a
password and keeps its state on disk. Every command's --help carries an example."""

from __future__ import annotations

import base64
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import click
import pytest

from tests.cli.conftest import Cli
from tests.environment import engine_env
from worker.cli.main import _register
from worker.cli.main import cli as root
from worker.config import Settings


def test_every_command_explains_itself_with_an_example(cli: Cli) -> None:
    """Every command that does something, and the operator's groups, show an example."""
    _register()
    missing = []

    def visit(command: click.Command, path: tuple[str, ...]) -> None:
        is_group = isinstance(command, click.Group)
        wanted = path and (not is_group or path[0] in ("users", "announce", "metrics"))
        if wanted and "Example" not in cli.ok(*path, "--help"):
            missing.append(" ".join(path))
        if isinstance(command, click.Group):
            for name, sub in command.commands.items():
                visit(sub, (*path, name))

    visit(root, ())
    assert missing == []


def test_worker_and_listener_without_a_keystore_fail_in_one_line(cli: Cli) -> None:
    assert cli.fails("worker", "-Q", "blazecast.send") == (
        "error: BLAZECAST_KEYSTORE: not set; point it at the bot's keystore JSON file, or add "
        "bots with `blazecast bots add`"
    )
    # The listener serves the default bot, which it creates, and then needs its key.
    assert cli.fails("listen") == (
        "error: bot default: BLAZECAST_KEYSTORE: not set; point it at the bot's keystore JSON file"
    )


def test_flower_never_starts_without_authentication(cli: Cli) -> None:
    assert "BLAZECAST_FLOWER_BASIC_AUTH: not set" in cli.fails("flower")
    cli.env["BLAZECAST_FLOWER_BASIC_AUTH"] = "nocolon"
    assert cli.fails("flower") == (
        "error: BLAZECAST_FLOWER_BASIC_AUTH: must look like user:password"
        " (value not shown: it holds a password)"
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _status(url: str, auth: str | None = None, method: str = "GET") -> int:
    request = urllib.request.Request(url, method=method, data=b"" if method == "POST" else None)
    if auth:
        request.add_header("Authorization", "Basic " + base64.b64encode(auth.encode()).decode())
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


@pytest.mark.e2e
def test_flower_asks_for_the_password_everywhere_and_is_read_only(
    settings: Settings, tmp_path: Path
) -> None:
    """The whole password counts, commas included; /metrics and /healthcheck ask for it too; an
    authenticated user cannot revoke a task unless Flower was started with --allow-control."""
    port = _free_port()
    home = tmp_path / "home"
    secret = "ops:Secret,Part2"
    env = {**os.environ, **engine_env(settings, home), "BLAZECAST_FLOWER_BASIC_AUTH": secret}
    process = subprocess.Popen(
        [sys.executable, "-m", "worker.cli", "flower", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                first = _status(url + "/")
                break
            except OSError:
                assert process.poll() is None, process.communicate()[1]
                assert time.monotonic() < deadline, "Flower did not start"
                time.sleep(0.3)
        assert first == 401
        for wrong in ("ops:wrong", "ops:Secret", "Part2"):
            assert _status(url + "/", wrong) == 401, wrong
        assert _status(url + "/", secret) == 200
        for path in ("/metrics", "/healthcheck"):
            assert _status(url + path) == 401, path
            assert _status(url + path, secret) == 200, path
        revoke = url + "/api/task/revoke/0b4c9f8e-1a2b-4c3d-8e9f-0a1b2c3d4e5f?terminate=true"
        assert _status(revoke, secret, method="POST") == 403
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=30)
    assert list(home.glob("flower.db*")), "Flower's persistent state was not written"
