"""docker-compose.yml, read against what it must do (no Docker engine here): every blazecast service
runs a real `blazecast` command with arguments the CLI accepts, start order waits on health, Flower
cannot start without a password and keeps its state."""

from __future__ import annotations

import json
import re
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
        "metrics",
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


ROOT = COMPOSE.parent


def _mounted(service: dict[str, Any]) -> dict[str, Path]:
    """Bind mounts of repository files: container path -> file in this checkout."""
    found = {}
    for volume in service["volumes"]:
        source, target = volume.split(":")[:2]
        if source.startswith("./"):
            found[target] = ROOT / source
    return found


def test_prometheus_scrapes_the_exporter_with_the_tested_rules(services: dict[str, Any]) -> None:
    mounts = _mounted(services["prometheus"])
    assert mounts["/etc/prometheus/rules.yml"] == ROOT / "deploy/prometheus/rules.yml"
    config = yaml.safe_load(mounts["/etc/prometheus/prometheus.yml"].read_text())
    assert "/etc/prometheus/rules.yml" in config["rule_files"]
    targets = config["scrape_configs"][0]["static_configs"][0]["targets"]
    port = _resolve(services["metrics"]["command"]).params["port"]
    assert targets == [f"metrics:{port}"]


def test_grafana_is_provisioned_with_prometheus_and_the_dashboard(services: dict[str, Any]) -> None:
    grafana = services["grafana"]
    assert grafana["environment"]["GF_SECURITY_ADMIN_PASSWORD"].startswith("${GRAFANA_ADMIN_")
    mounts = _mounted(grafana)
    provisioning = mounts["/etc/grafana/provisioning"]
    source = yaml.safe_load((provisioning / "datasources/prometheus.yml").read_text())
    (datasource,) = source["datasources"]
    assert datasource["url"] == "http://prometheus:9090"
    provider = yaml.safe_load((provisioning / "dashboards/blazecast.yml").read_text())
    folder = provider["providers"][0]["options"]["path"]
    dashboard = json.loads((mounts[folder] / "blazecast.json").read_text())
    # Every panel queries the provisioned datasource and a metric the exporter or a rule makes.
    known = set(re.findall(r"``(blazecast_[a-z_]+)", (ROOT / "worker/metrics.py").read_text()))
    known |= set(re.findall(r"record: (\S+)", (ROOT / "deploy/prometheus/rules.yml").read_text()))
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == datasource["uid"], panel["title"]
            used = set(re.findall(r"blazecast[:_][a-z_:0-9]+", target["expr"]))
            unknown = {m for m in used if m.removesuffix("_total") not in known and m not in known}
            assert not unknown, (panel["title"], unknown)
