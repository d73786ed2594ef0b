"""``blazecast demo`` as a new user runs it: a real subprocess with nothing configured.

It must start its own engines, the simulator and the pipeline, send, summarise, and leave no
process behind, whether it ends by itself or is interrupted with Ctrl-C while it keeps the stack
(and Flower) up.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def home() -> Iterator[Path]:
    # Not under pytest's 0700 temp folder: as root the embedded Postgres runs as its own user.
    path = REPO / ".blazecast" / "tests" / f"demo-{uuid.uuid4().hex[:8]}"
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _start(home: Path, *args: str) -> subprocess.Popen[str]:
    # A fresh machine: no BLAZECAST_* setting at all except where the state goes.
    env = {k: v for k, v in os.environ.items() if not k.startswith("BLAZECAST_")}
    env.update(BLAZECAST_HOME=str(home), PYTHONUNBUFFERED="1")
    return subprocess.Popen(
        [sys.executable, "-m", "worker.cli", "demo", *args],
        env=env,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _left_behind(home: Path) -> list[str]:
    """Processes that still belong to this demo: by their command line or their environment."""
    found = []
    for process in psutil.process_iter(["pid", "cmdline"]):
        try:
            cmdline = " ".join(process.info["cmdline"] or [])
            environ = process.environ() if str(home) not in cmdline else {}
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
        if str(home) in cmdline or environ.get("BLAZECAST_HOME", "").startswith(str(home)):
            found.append(f"{process.info['pid']}: {cmdline}")
    return found


def test_the_demo_runs_the_whole_story_and_cleans_up(home: Path) -> None:
    started = time.monotonic()
    demo = _start(home, "--users", "400", "--category", "PLAIN_POST")
    output, _ = demo.communicate(timeout=150)
    took = time.monotonic() - started

    assert demo.returncode == 0, output
    assert "blazecast demo (PLAIN_POST): completed" in output
    assert re.search(r"recipients\s+400\b", output), output
    sent = int(re.search(r"sent\s+([\d,]+) in", output).group(1).replace(",", ""))  # type: ignore[union-attr]
    failed = int(re.search(r"failed\s+([\d,]+)", output).group(1).replace(",", ""))  # type: ignore[union-attr]
    assert sent + failed == 400 and sent >= 390
    assert re.search(r"read\s+[1-9][\d,]* \(", output), output
    # Reach is counted against the reachable users; the unreachable are named, with why.
    reached = re.search(r"reached\s+([\d,]+) of ([\d,]+) reachable users, each saw it once", output)
    unreachable = re.search(r"unreachable ([\d,]+) \(the provider answered 403", output)
    assert reached and unreachable, output
    assert int(reached.group(1)) == int(reached.group(2)) == sent
    assert int(unreachable.group(1)) == failed
    assert "everything stopped" in output
    assert list((home / "demo" / "reports").glob("*.png"))
    assert took < 120, f"the demo took {took:.0f} s"
    assert _left_behind(home) == []


def _read_until(demo: subprocess.Popen[str], marker: str, timeout: float) -> str:
    assert demo.stdout is not None
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = demo.stdout.readline()
        if not line:
            break
        seen.append(line)
        if marker in line:
            return "".join(seen)
    raise AssertionError(f"no {marker!r} within {timeout} s:\n{''.join(seen)}")


def _get(url: str, auth: str | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url)
    if auth:
        request.add_header("Authorization", "Basic " + base64.b64encode(auth.encode()).decode())
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status), response.read().decode()
    except urllib.error.HTTPError as error:
        return int(error.code), ""


def _eventually(url: str, auth: str | None = None, timeout: float = 60) -> tuple[int, str]:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return _get(url, auth)
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def test_ctrl_c_stops_a_kept_stack_with_flower_and_metrics(home: Path) -> None:
    demo = _start(home, "--users", "200", "--keep")
    try:
        output = _read_until(demo, "stack is up", timeout=120)
        flower = re.search(r"Flower:\s+(\S+)\s+\(user (\S+), password (\S+)\)", output)
        metrics = re.search(r"metrics:\s+(\S+)", output)
        assert flower and metrics, output
        auth = f"{flower.group(2)}:{flower.group(3)}"

        assert _eventually(flower.group(1))[0] == 401
        assert _eventually(flower.group(1), auth)[0] == 200
        status, body = _eventually(metrics.group(1))
        assert status == 200 and 'blazecast_queue_depth{queue="blazecast.send"}' in body
        assert 'outcome="sent"' in body
        # Flower ran during the broadcast: its batches are listed, naming the announcement.
        tasks = json.loads(
            _get(flower.group(1) + "/api/tasks?taskname=blazecast.send_batch", auth)[1]
        )
        assert tasks and all(
            t["kwargs"] and "announcement_id" in t["kwargs"] for t in tasks.values()
        )

        demo.send_signal(signal.SIGINT)
        rest, _ = demo.communicate(timeout=60)
    finally:
        if demo.poll() is None:
            demo.kill()
    assert demo.returncode == 130, rest
    assert "interrupted; everything stopped" in rest
    assert _left_behind(home) == []
