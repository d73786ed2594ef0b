"""CPU seconds and memory per component (send workers, listener, Postgres, ...), sampled with psutil.

A component is a function returning its root pids; a root's descendants count with it (Celery's
pool processes, Postgres backends). A background thread samples every ``interval`` seconds. CPU is
the growth of user + system time of every process seen, so a process that started mid-run counts
in full and one killed mid-run keeps what it had used at its last sample (at most one interval is
lost). Memory is resident set size: the peak of the largest single process, and a time series.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import psutil

PidSource = Callable[[], list[int]]
ProcessKey = tuple[int, float]  # pid and start time: a recycled pid is another process


def _tree(roots: list[int]) -> list[psutil.Process]:
    found: list[psutil.Process] = []
    for pid in roots:
        with contextlib.suppress(psutil.Error):
            root = psutil.Process(pid)
            found.append(root)
            found.extend(root.children(recursive=True))
    return found


@dataclass
class ComponentUsage:
    cpu_seconds: float = 0.0
    peak_rss_bytes: int = 0
    rss_series: list[tuple[float, int]] = field(default_factory=list)


class Sampler:
    """Samples the components in a thread between ``start()`` and ``stop()``."""

    def __init__(self, components: dict[str, PidSource], *, interval: float = 0.5) -> None:
        self.components = components
        self.interval = interval
        self._first: dict[ProcessKey, float] = {}
        self._last: dict[ProcessKey, tuple[str, float]] = {}
        self.usage = {name: ComponentUsage() for name in components}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-sampler", daemon=True)
        self._started_at = 0.0

    def start(self) -> Sampler:
        self._started_at = time.monotonic()
        self._sample(baseline=True)
        self._thread.start()
        return self

    def stop(self) -> dict[str, ComponentUsage]:
        self._stop.set()
        self._thread.join(timeout=10)
        self._sample(baseline=False)
        for key, (name, cpu) in self._last.items():
            self.usage[name].cpu_seconds += cpu - self._first.get(key, 0.0)
        return self.usage

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample(baseline=False)

    def _sample(self, *, baseline: bool) -> None:
        now = time.monotonic() - self._started_at
        for name, source in self.components.items():
            try:
                roots = source()
            except (OSError, ValueError):
                continue  # a pid file being rewritten during a restart
            largest = 0
            for process in _tree(roots):
                try:
                    with process.oneshot():
                        key = (process.pid, process.create_time())
                        times = process.cpu_times()
                        rss = process.memory_info().rss
                except psutil.Error:
                    continue
                cpu = times.user + times.system
                if baseline:
                    self._first[key] = cpu
                self._last[key] = (name, cpu)
                largest = max(largest, rss)
            usage = self.usage[name]
            usage.peak_rss_bytes = max(usage.peak_rss_bytes, largest)
            usage.rss_series.append((round(now, 2), largest))
