"""The results every bench writes: its figures plus the machine and its load, as JSON.

The machine is shared (2 cores, other engineers' tests), so every result records the CPU count and
``os.getloadavg()`` before and after the run; a figure measured under load says so.
"""

from __future__ import annotations

import json
import math
import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parents[1]
# BENCH_RESULTS=/tmp/smoke sends a smoke run's figures, plots and history elsewhere, so that a
# quick check of a bench never replaces the recorded results.
RESULTS = Path(os.environ.get("BENCH_RESULTS") or BENCH / "results")


def machine() -> dict[str, Any]:
    """What the figures were measured on, and how busy it was at that moment."""
    return {
        "cpus": os.cpu_count(),
        "loadavg": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


# What a bench measures; changes elsewhere (results, docs) do not make a run "uncommitted".
_CODE = ("worker", "models", "migrations", "simulator", "bench")


def _git(*args: str) -> str:
    return subprocess.run(
        ["git", *args], capture_output=True, text=True, check=True, cwd=BENCH
    ).stdout.strip()


def _commit() -> str:
    """The commit measured, ``+uncommitted`` if the code differed from it."""
    try:
        commit = _git("rev-parse", "--short", "HEAD")
        changed = _git("status", "--porcelain", "--", *_CODE, ":!bench/results")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{commit}+uncommitted" if changed else commit


class Run:
    """One bench run: note the machine at the start, then ``save`` the figures at the end."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.command = " ".join(["python", "-m", f"bench.{name}", *sys.argv[1:]])
        self.machine_before = machine()
        self.started = time.monotonic()

    def save(self, figures: dict[str, Any], summary: str) -> Path:
        """Write ``bench/results/<name>.json`` and print the one-line summary."""
        RESULTS.mkdir(parents=True, exist_ok=True)
        document = {
            "bench": self.name,
            "command": self.command,
            "summary": summary,
            "figures": figures,
            "machine_before": self.machine_before,
            "machine_after": machine(),
            "wall_seconds": round(time.monotonic() - self.started, 1),
            "commit": _commit(),
            "measured_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        path = RESULTS / f"{self.name}.json"
        path.write_text(json.dumps(document, indent=2) + "\n")
        remember(
            self.name,
            summary,
            self.machine_before["loadavg"],
            str(document["measured_at"]),
            str(document["commit"]),
            self.command,
        )
        print(f"wrote {path}")
        print(summary)
        return path


HISTORY = RESULTS / "history.jsonl"


def remember(
    bench: str, summary: str, loadavg: list[float], measured_at: str, commit: str, command: str
) -> None:
    """Append the run's summary line to ``history.jsonl``: the JSON holds the latest run only,
    and on a shared machine the spread between runs is part of the result."""
    entry = {
        "bench": bench,
        "summary": summary,
        "loadavg": loadavg,
        "measured_at": measured_at,
        "commit": commit,
        "command": command,
    }
    with HISTORY.open("a") as handle:
        handle.write(json.dumps(entry) + "\n")


def history(bench: str) -> list[dict[str, Any]]:
    if not HISTORY.exists():
        return []
    entries = [json.loads(line) for line in HISTORY.read_text().splitlines() if line.strip()]
    return [e for e in entries if e["bench"] == bench]


def percentile(values: list[float], share: float) -> float:
    """The nearest-rank percentile (``share`` in 0..1) of a non-empty list."""
    ordered = sorted(values)
    rank = min(len(ordered), max(1, math.ceil(share * len(ordered))))
    return ordered[rank - 1]


def mib(value: int) -> float:
    return round(value / 2**20, 1)
