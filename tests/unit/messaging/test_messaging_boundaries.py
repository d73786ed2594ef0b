"""The layering the issue asks for, checked on the source: who may import what."""

from __future__ import annotations

import ast
from pathlib import Path

WORKER = Path(__file__).resolve().parents[3] / "worker"
MESSAGING = WORKER / "messaging"


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def offenders(paths: list[Path], forbidden: tuple[str, ...]) -> dict[str, list[str]]:
    """Modules (by path) importing any of ``forbidden`` or a submodule of one."""
    found: dict[str, list[str]] = {}
    for path in paths:
        bad = sorted(
            m
            for m in imported_modules(path)
            if any(m == f or m.startswith(f + ".") for f in forbidden)
        )
        if bad:
            found[str(path.relative_to(WORKER.parent))] = bad
    return found


def test_nothing_above_messaging_imports_the_socket_libraries():
    above = [p for p in WORKER.rglob("*.py") if MESSAGING not in p.parents]
    assert above, "the worker package should have modules outside worker/messaging"
    assert offenders(above, ("websocket", "requests")) == {}


def test_messaging_takes_everything_as_parameters():
    forbidden = (
        "sqlalchemy",
        "models",
        "celery",
        "redis",
        "worker.config",
        "worker.db",
        "worker.broadcast",
    )
    assert offenders(list(MESSAGING.rglob("*.py")), forbidden) == {}


def test_the_pipeline_imports_no_provider_package():
    """``worker/broadcast/`` reaches a provider only through ``worker.messaging.provider``."""
    broadcast = list((WORKER / "broadcast").rglob("*.py"))
    assert broadcast
    providers = ("worker.messaging.mixin", "worker.messaging.imrest", "websocket", "requests")
    assert offenders(broadcast, providers) == {}
