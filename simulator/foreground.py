"""What the simulator CLIs share: the `--faults` option and serving until Ctrl-C or SIGTERM.

Each fake has its own fault vocabulary, so `load_fault_plan` is given the plan's `from_dict`;
`serve_until_signal` knows nothing of either fake beyond `start` and `stop`.
"""

from __future__ import annotations

import json
import signal
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from types import FrameType
from typing import Any, Protocol, TypeVar

import click

Plan = TypeVar("Plan")
# How often the foreground thread wakes to see whether a signal asked it to stop.
_POLL_SECONDS = 0.5


class Serving(Protocol):
    def start(self) -> object: ...

    def stop(self) -> None: ...


def load_fault_plan(text: str | None, from_dict: Callable[[Mapping[str, Any]], Plan]) -> Plan:
    """The plan `--faults` names, inline JSON or `@FILE`; no text is `from_dict({})`: no faults."""
    if not text:
        return from_dict({})
    if text.startswith("@"):
        text = Path(text[1:]).read_text(encoding="utf-8")
    try:
        raw = json.loads(text)
        if not isinstance(raw, dict):
            raise ValueError("faults must be a JSON object")
        return from_dict(raw)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--faults") from None


def serve_until_signal(server: Serving, address: str, announce: Callable[[], None]) -> None:
    """Start `server`, `announce()` it, and serve until SIGINT or SIGTERM; then stop it.

    A port that cannot be bound is one line naming `address` (host:port), not a traceback.
    """
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    # Installed before starting, so a signal during start-up is not lost.
    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    try:
        server.start()
    except OSError as error:
        raise click.ClickException(f"cannot listen on {address}: {error}") from None
    try:
        announce()
        while not stop.wait(_POLL_SECONDS):
            pass
    finally:
        server.stop()
    click.echo("simulator stopped")
