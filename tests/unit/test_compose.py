"""docker-compose.yml, read against what it must do (no Docker engine here): every blazecast service
runs a real `blazecast` command with arguments the CLI accepts, start order waits on health, Flower
cannot start without a password and keeps its state."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import click
import pytest
import yaml

from worker.cli.main import _register, cli

COMPOSE = Path(__file__).resolve().parents[2] / "docker-compose.yml"


@pytest.fixture(scope="module")
def services() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())["services"]


def _blazecast_services(services: dict[str, Any]) -> dict[str, Any]:
    return {name: s for name, s in services.items() if s.get("image") == "blazecast:latest"}


def _resolve(args: list[str]) -> click.Context:
    """Parse args exactly as `blazecast` would, down to the leaf command (raises on bad args)."""
    _register()
    context = cli.make_context("blazecast", list(args))
    command: click.Command = cli
    while isinstance(command, click.Group):
        with warnings.catch_warnings():  # click 8.2 deprecates protected_args; 9.0 folds it in
            warnings.simplefilter("ignore", DeprecationWarning)
            remaining = [*context.protected_args, *context.args]
        name, sub, rest = command.resolve_command(context, remaining)
        assert sub is not None, f"unknown command {name}"
        command = sub
        context = sub.make_context(name, rest, parent=context)
    return context


def test_every_blazecast_service_runs_a_real_command(services: dict[str, Any]) -> None:
    ours = _blazecast_services(services)
    assert set(ours) == {
        "migrate",
        "simulator",
        "worker",
        "worker-control",
        "beat",
        "listener",
        "flower",
    }
    for name, service in ours.items():
        context = _resolve(service["command"])
        assert context.command.name, name


def test_start_order_waits_for_health_and_the_migration(services: dict[str, Any]) -> None:
    for name in ("worker", "worker-control", "beat", "listener", "flower"):
        depends = services[name]["depends_on"]
        assert depends["postgres"]["condition"] == "service_healthy", name
        assert depends["redis"]["condition"] == "service_healthy", name
        assert depends["migrate"]["condition"] == "service_completed_successfully", name
    assert services["migrate"]["command"] == ["db", "upgrade"]
    for name in ("postgres", "redis", "simulator", "worker", "worker-control", "flower"):
        assert "test" in services[name]["healthcheck"], name


def test_flower_requires_auth_and_keeps_state(services: dict[str, Any]) -> None:
    flower = services["flower"]
    assert flower["environment"]["BLAZECAST_FLOWER_BASIC_AUTH"].startswith(
        "${BLAZECAST_FLOWER_BASIC_AUTH:?"
    )
    assert any(v.endswith(":/var/lib/blazecast") for v in flower["volumes"])
    assert flower["ports"] == ["127.0.0.1:5555:5555"]


def test_processes_share_one_database_and_broker(services: dict[str, Any]) -> None:
    urls = {
        (s["environment"]["BLAZECAST_DATABASE_URL"], s["environment"]["BLAZECAST_REDIS_URL"])
        for s in _blazecast_services(services).values()
    }
    assert len(urls) == 1
