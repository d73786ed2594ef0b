"""The simulator in its own process, driven over its ``/_sim/`` endpoints.

Benches run the simulator as ``python -m simulator`` rather than in a thread, so that its CPU is
its own (it is one of the components CPU per message is reported for) and it never competes for
the GIL with the bench's own polling.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import requests

from simulator import UserBehaviour

# A realistic audience (UserBehaviour's defaults, delivery in ~0.3 s, 70 % read within seconds),
# except that nobody has blocked the bot: the performance benches measure sending, and the fault
# campaign adds blocked users on purpose.
PERFORMANCE_BEHAVIOUR: dict[str, float | bool] = {
    "read-probability": UserBehaviour.read_probability,
    "never-read-fraction": UserBehaviour.never_read_fraction,
    "blocked-fraction": 0.0,
    "delivery-median": UserBehaviour.delivery_median,
    "read-median": 2.0,
    "multi-device-fraction": UserBehaviour.multi_device_fraction,
}
# Every message DELIVERED and READ within 0.2 s: two receipts per message, at once, the most
# receipt work a broadcast can cause (UserBehaviour.fast()).
FAST_BEHAVIOUR: dict[str, float | bool] = {"fast": True}


@dataclass
class SimulatorProcess:
    process: subprocess.Popen[str]
    http_url: str
    blaze_url: str
    keystore_path: Path
    log: IO[str]
    # Every bot's keystore, the first one's being ``keystore_path``.
    keystore_paths: list[Path]

    @classmethod
    def start(
        cls,
        workdir: Path,
        users_file: Path,
        *,
        seed: int = 1,
        quota_per_minute: int = 100_000,
        behaviour: dict[str, float | bool] | None = None,
        faults: dict[str, Any] | None = None,
        queue_receipts: bool = False,
        bots: int = 1,
    ) -> SimulatorProcess:
        """Start the simulator on a free loopback port with the users of ``users_file``, serving
        ``bots`` bots (a keystore each, every user in contact with each)."""
        workdir.mkdir(parents=True, exist_ok=True)
        command = [
            sys.executable,
            *("-m", "simulator", "--port", "0", "--seed", str(seed)),
            *("--users-file", str(users_file), "--keystore-out", str(workdir / "keystore.json")),
            *("--quota-per-minute", str(quota_per_minute), "--bots", str(bots)),
        ]
        for option, value in (behaviour or PERFORMANCE_BEHAVIOUR).items():
            # A flag (``"fast": True``) has no value.
            command += [f"--{option}"] if value is True else [f"--{option}", str(value)]
        if faults:
            command += ["--faults", json.dumps(faults)]
        if queue_receipts:
            command.append("--queue-receipts")
        log = open(workdir / "simulator.log", "w")  # noqa: SIM115 (closed with the process)
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log, text=True)
        printed: dict[str, str] = {}
        assert process.stdout is not None
        for line in process.stdout:
            label, _, text = line.partition(":")
            printed[label.strip()] = text.strip()
            if label.strip() == "Stats":
                break
        if "Stats" not in printed:
            process.kill()
            process.wait(5)
            process.stdout.close()
            log.close()
            raise RuntimeError(f"the simulator did not start; see {workdir / 'simulator.log'}")
        first = Path(printed["Keystore"].strip())
        others = [Path(printed[f"Keystore {n}"].strip()) for n in range(2, bots + 1)]
        return cls(process, printed["HTTP API"], printed["Blaze"], first, log, [first, *others])

    def stats(self) -> dict[str, Any]:
        """``GET /_sim/stats``: what the simulator saw (accepted, duplicates, windows, 429s ...)."""
        reply = requests.get(f"{self.http_url}/_sim/stats", timeout=30)
        reply.raise_for_status()
        data: dict[str, Any] = reply.json()
        return data

    def accepted(self, bot_id: str) -> list[tuple[str, int]]:
        """``GET /_sim/accepted``: each distinct message of the bot and when it was accepted
        (Unix ns), in the order accepted."""
        reply = requests.get(f"{self.http_url}/_sim/accepted", params={"bot": bot_id}, timeout=60)
        reply.raise_for_status()
        return [(str(m), int(at)) for m, at in reply.json()["accepted"]]

    def set_faults(self, **plan: Any) -> dict[str, Any]:
        """Replace the fault plan (``POST /_sim/faults``); no arguments clears every fault."""
        reply = requests.post(f"{self.http_url}/_sim/faults", json=plan, timeout=30)
        reply.raise_for_status()
        data: dict[str, Any] = reply.json()
        return data

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        with contextlib.suppress(ValueError):
            if self.process.stdout is not None:
                self.process.stdout.close()
        self.log.close()
