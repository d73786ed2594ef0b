"""Where the time goes: py-spy samples of live processes, summarised by layer and by function.

``PySpy`` attaches a sampling profiler (``py-spy record --subprocesses --nonblocking``) to the
root of a component (a Celery worker and its pool, the listener) for as long as the ``with``
block runs, without stopping or changing the process. The stacks are then summarised two ways:
by *layer* (the innermost frame that belongs to a known library or to blazecast decides where a
sample's CPU went) and by *blazecast function* (inclusive share of the samples in which a frame of
``worker/`` is on the stack), and by *call site* (the innermost line of blazecast on the stack). py-spy is optional: without it ``available()`` is False and the
bench says the profile was skipped.
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

# Innermost-first: the first frame on the stack (from the leaf) whose file matches decides.
LAYERS: list[tuple[str, re.Pattern[str]]] = [
    ("Postgres client (SQLAlchemy, psycopg2)", re.compile(r"(^|/)(sqlalchemy|psycopg2)/")),
    ("Redis client", re.compile(r"(^|/)redis/")),
    ("websocket / HTTP client", re.compile(r"(^|/)(websocket|requests|urllib3|http/client)")),
    ("Celery / kombu / billiard", re.compile(r"(^|/)(celery|kombu|billiard|vine|amqp)/")),
    ("JSON, gzip, base64", re.compile(r"(^|/)(json/|gzip\.py|zlib|base64\.py)")),
    ("logging", re.compile(r"(^|/)logging/")),
    ("cryptography (JWT signing)", re.compile(r"(^|/)cryptography/")),
    ("blazecast code", re.compile(r"^(worker|models)/")),
]
FRAME = re.compile(r"^(?P<function>.+) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")
# py-spy names a file by its path below its sys.path entry: blazecast's are "worker/...", whereas
# Celery's own "celery/worker/..." is not blazecast. The CLI frames hold every sample: left out.
BLAZECAST_FILE = re.compile(r"^(worker|models)/(?!cli/)")


def available() -> bool:
    return _binary() is not None


def _binary() -> str | None:
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.exists() else shutil.which("py-spy")


@dataclass
class Profile:
    """Samples of one component: by layer and by blazecast function (inclusive)."""

    samples: int = 0
    layers: Counter[str] = field(default_factory=Counter)
    functions: Counter[str] = field(default_factory=Counter)
    call_sites: Counter[str] = field(default_factory=Counter)

    def add_stack(self, frames: list[str], count: int) -> None:
        self.samples += count
        parsed = [m for m in (FRAME.match(f) for f in frames) if m]
        layer = "other (stdlib, interpreter)"
        for match in reversed(parsed):
            found = next((name for name, rule in LAYERS if rule.search(match["file"])), None)
            if found:
                layer = found
                break
        self.layers[layer] += count
        seen = set()
        innermost = "outside blazecast (Celery's loop, idle waits, interpreter)"
        for match in parsed:
            if BLAZECAST_FILE.search(match["file"]):
                name = f"{match['function']} ({match['file']})"
                innermost = f"{match['file']}:{match['line']} {match['function']}"
                if name not in seen:
                    seen.add(name)
                    self.functions[name] += count
        self.call_sites[innermost] += count

    def summary(self, top: int = 12) -> dict[str, object]:
        def share(n: int) -> float:
            return round(n / self.samples, 3) if self.samples else 0.0

        return {
            "samples": self.samples,
            "by_layer": {name: share(n) for name, n in self.layers.most_common()},
            "blazecast_functions_inclusive": {
                name: share(n) for name, n in self.functions.most_common(top)
            },
            # The innermost blazecast line on the stack: the call whose work (its libraries
            # included) the sample belongs to. The most direct answer to "what to make cheaper".
            "blazecast_call_sites": {
                name: share(n) for name, n in self.call_sites.most_common(top)
            },
        }


def parse_raw(text: str) -> Profile:
    """Read py-spy's ``--format raw`` (collapsed stacks: ``frame;frame;... count``)."""
    profile = Profile()
    for line in text.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = stack.split(";")
        while frames and frames[0].startswith("process "):  # one per level of --subprocesses
            frames = frames[1:]
        profile.add_stack(frames, int(count))
    return profile


class PySpy:
    """Record the processes rooted at ``pids`` (with their children) while the block runs."""

    def __init__(self, pids: dict[str, int], folder: Path, *, rate: int = 50) -> None:
        self.pids = pids
        self.folder = folder
        self.rate = rate
        self._running: dict[str, subprocess.Popen[bytes]] = {}
        self.profiles: dict[str, Profile] = {}

    def __enter__(self) -> PySpy:
        binary = _binary()
        if binary is None:
            return self
        self.folder.mkdir(parents=True, exist_ok=True)
        for name, pid in self.pids.items():
            self._running[name] = subprocess.Popen(
                [
                    binary,
                    *("record", "--pid", str(pid), "--subprocesses", "--nonblocking"),
                    *("--rate", str(self.rate), "--format", "raw"),
                    *("--output", str(self._path(name))),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        return self

    def _path(self, name: str) -> Path:
        return self.folder / (re.sub(r"[^a-z0-9]+", "-", name.lower()) + ".txt")

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        for process in self._running.values():
            process.send_signal(signal.SIGINT)  # py-spy writes its output on Ctrl-C
        for name, process in self._running.items():
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                continue
            path = self._path(name)
            if path.exists():
                self.profiles[name] = parse_raw(path.read_text(errors="replace"))
