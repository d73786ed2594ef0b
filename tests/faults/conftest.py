"""The campaign's summary: every scenario's figures, written to ``bench/results/faults.json``
when the session ends, with time to finish relative to the fault-free run of the same session."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from bench.harness.results import RESULTS, machine


@pytest.fixture(scope="session")
def campaign_results() -> Iterator[list[dict[str, Any]]]:
    results: list[dict[str, Any]] = []
    before = machine()
    yield results
    if not results:
        return
    reference = next((r for r in results if r["scenario"] == "fault_free"), None)
    for result in results:
        if reference is not None and result["seconds_to_complete"] is not None:
            result["time_vs_fault_free"] = round(
                result["seconds_to_complete"] / reference["seconds_to_complete"], 2
            )
    RESULTS.mkdir(parents=True, exist_ok=True)
    provider = os.environ.get("BLAZECAST_FAULTS_PROVIDER", "mixin")
    name = "faults" if provider == "mixin" else f"faults_{provider}"
    prefix = "" if provider == "mixin" else f"BLAZECAST_FAULTS_PROVIDER={provider} "
    document = {
        "bench": name,
        "command": f"{prefix}.venv/bin/pytest -m faults tests/faults",
        "seed": int(os.environ.get("BLAZECAST_FAULTS_SEED", "7")),
        "scenarios": results,
        "all_passed": all(not r["problems"] for r in results),
        "machine_before": before,
        "machine_after": machine(),
        "measured_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    (RESULTS / f"{name}.json").write_text(json.dumps(document, indent=2) + "\n")
