"""Running blazecast's own processes as children: the demo and the end-to-end tests use it.

``ProcessGroup`` starts ``blazecast worker|beat|listen`` with an explicit environment (resolved URLs,
keystore, provider URLs), keeps their output in log files, and stops them cleanly: SIGTERM (Celery's
warm shutdown), then SIGKILL for whatever is still alive after a grace period.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from worker.queues import CONTROL_QUEUE, RECEIPTS_QUEUE, SEND_QUEUE


@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def alive(self) -> bool:
        return self.process.poll() is None

    def tail(self, lines: int = 20) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


@dataclass
class ProcessGroup:
    """Children sharing one environment; a context manager that always stops them."""

    env: Mapping[str, str]
    log_dir: Path
    children: list[Child] = field(default_factory=list)

    def start(self, name: str, *args: str) -> Child:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.log_dir / f"{name}.log"
        with open(log_path, "ab") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "worker.cli", *args],
                env={**os.environ, **self.env},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C in the terminal reaches the parent only
            )
        child = Child(name, process, log_path)
        self.children.append(child)
        return child

    def start_stack(self, *, send_workers: int = 1, concurrency: int = 2) -> None:
        """The whole pipeline: sending worker(s), a control/receipts worker, beat and listener."""
        for index in range(send_workers):
            self.start(
                f"worker-send-{index}",
                "worker",
                "-Q",
                SEND_QUEUE,
                "-c",
                str(concurrency),
                "-n",
                f"send{index}@%h",
            )
        self.start_control()
        self.start("beat", "beat")
        self.start("listener", "listen")

    def start_control(self) -> None:
        """The control/receipts worker: ticks, planning, reaping, receipts."""
        self.start(
            "worker-control",
            "worker",
            "-Q",
            f"{CONTROL_QUEUE},{RECEIPTS_QUEUE}",
            "-c",
            "2",
            "-n",
            "control@%h",
        )

    def dead(self) -> list[Child]:
        return [c for c in self.children if not c.alive()]

    def stop(self, grace: float = 15.0) -> None:
        for child in self.children:
            if child.alive():
                child.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace
        for child in self.children:
            remaining = max(deadline - time.monotonic(), 0.1)
            try:
                child.process.wait(remaining)
            except subprocess.TimeoutExpired:
                os.killpg(child.process.pid, signal.SIGKILL)
                child.process.wait(5)
        self.children.clear()

    def __enter__(self) -> ProcessGroup:
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()


def stack_env(
    *,
    database_url: str,
    redis_url: str,
    keystore: Path | None,
    api_url: str,
    blaze_url: str,
    home: Path,
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The environment that points child processes at the same engines and provider (no
    ``keystore``: no default Mixin bot, only the bots added as rows)."""
    env = {
        "BLAZECAST_DATABASE_URL": database_url,
        "BLAZECAST_REDIS_URL": redis_url,
        "BLAZECAST_MIXIN_API_URL": api_url,
        "BLAZECAST_MIXIN_BLAZE_URL": blaze_url,
        "BLAZECAST_HOME": str(home),
        "PYTHONUNBUFFERED": "1",
    }
    if keystore is not None:
        env["BLAZECAST_KEYSTORE"] = str(keystore)
    env.update(extra or {})
    return env
