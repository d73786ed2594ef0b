"""Flower answers an operator's questions, seen in a real browser (headless Chromium): its tasks page
lists each batch's announcement, and a batch the provider refused for a moment shows as RETRY.

The page is rendered by Chromium from Flower (started before the broadcast, as the demo's --keep
does, so it sees every task's events) in front of real workers and the simulator injecting 500s.
A screenshot is kept next to the logs (``flower-tasks.png``) for a human to look at.
"""

from __future__ import annotations

import base64
import json
import socket
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from simulator import FaultPlan, SimConfig
from simulator.config import UserBehaviour
from tests.e2e.stack import running_stack
from tests.tools import require_tool
from worker.config import Settings
from worker.db import Database

pytestmark = pytest.mark.e2e

CREDENTIAL = "ops:s3cret,with-a-comma"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _api(url: str) -> object:
    request = urllib.request.Request(url)
    request.add_header("Authorization", "Basic " + base64.b64encode(CREDENTIAL.encode()).decode())
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def _chromium(browser: str, url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",  # CI runs as root
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--window-size=1600,1000",
            "--virtual-time-budget=15000",  # let the page's AJAX fill the table
            *args,
            url,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_flowers_tasks_page_names_the_announcement_and_a_retried_batch(
    settings: Settings, clean_db: Database, tmp_path: Path
) -> None:
    browser = require_tool("chromium", "chromium-browser")
    config = SimConfig(
        users=1_000,
        behaviour=UserBehaviour.fast(),
        faults=FaultPlan(error_rate={500: 0.5}, seed=11),
    )
    env = {"BLAZECAST_RETRY_BASE_SECONDS": "0.2", "BLAZECAST_RETRY_MAX_SECONDS": "1"}
    port = _free_port()
    with running_stack(settings, clean_db, tmp_path, config, env=env) as stack:
        stack.group.env = {**stack.group.env, "BLAZECAST_FLOWER_BASIC_AUTH": CREDENTIAL}
        stack.group.start("flower", "flower", "--port", str(port))
        base = f"http://127.0.0.1:{port}"
        stack.wait_for(lambda: _answers(base), timeout=60, what="Flower to answer")
        announcement = stack.broadcast("Seen in Flower")
        stack.wait_completed(announcement.id)

        def flower_saw_a_retry() -> bool:
            tasks = _api(f"{base}/api/tasks?taskname=blazecast.send_batch&state=RETRY")
            return bool(tasks)

        stack.wait_for(flower_saw_a_retry, timeout=30, what="Flower to record a RETRY")
        user, _, password = CREDENTIAL.partition(":")
        # Chromium takes the credential from the URL for the page, then for its AJAX calls.
        page = f"http://{user}:{urllib.request.quote(password, safe='')}@127.0.0.1:{port}/tasks"
        dom = _chromium(browser, page, "--dump-dom")
        screenshot = tmp_path / "logs" / "flower-tasks.png"
        shot = _chromium(browser, page, f"--screenshot={screenshot}")

    assert dom.returncode == 0, dom.stderr[-2000:]
    html = dom.stdout
    assert str(announcement.id) in html, html[-3000:]
    assert "RETRY" in html, html[-3000:]
    assert "blazecast.send_batch" in html
    assert shot.returncode == 0 and screenshot.stat().st_size > 10_000, shot.stderr[-2000:]


def _answers(base: str) -> bool:
    try:
        _api(f"{base}/api/workers")
    except (OSError, urllib.error.HTTPError):
        return False
    return True
