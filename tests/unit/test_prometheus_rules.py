"""The shipped Prometheus rules are valid and each alert fires on its condition (and stays quiet
on a healthy series), as ``promtool test rules`` checks against deploy/prometheus/rules_test.yml."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from tests.tools import require_tool

PROMETHEUS = Path(__file__).resolve().parents[2] / "deploy" / "prometheus"
ALERTS = {
    "BlazecastBotHalted",
    "BlazecastRateLimited",
    "BlazecastNoBeat",
    "BlazecastNoSendWorker",
    "BlazecastSendQueueStuck",
    "BlazecastErrorThresholdReached",
    "BlazecastReceiptLag",
    "BlazecastExporterSourceDown",
}


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    promtool = require_tool("promtool")
    return subprocess.run(
        [promtool, *args], cwd=PROMETHEUS, capture_output=True, text=True, timeout=120
    )


def test_rules_are_valid() -> None:
    checked = _promtool("check", "rules", "rules.yml")
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_every_alert_fires_in_its_test() -> None:
    tested = _promtool("test", "rules", "rules_test.yml")
    assert tested.returncode == 0, tested.stdout + tested.stderr
    # Every alert the rules define has a test case that expects it to fire.
    cases = yaml.safe_load((PROMETHEUS / "rules_test.yml").read_text())["tests"]
    fired = {
        check["alertname"]
        for case in cases
        for check in case.get("alert_rule_test", [])
        if check.get("exp_alerts")
    }
    groups = yaml.safe_load((PROMETHEUS / "rules.yml").read_text())["groups"]
    defined = {rule["alert"] for group in groups for rule in group["rules"] if "alert" in rule}
    assert defined == ALERTS
    assert fired == ALERTS
