"""Dependencies do not float (issue 13, item 10): every install path uses one pinned set.

A dependency published tomorrow must not change what CI, the Docker image or a new laptop runs:
``constraints.txt`` pins every package blazecast[dev] pulls in, within pyproject.toml's ranges,
and each install path uses it.
"""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
# Calendar-versioned data and type stubs follow their package: no major to bound.
UNBOUNDED = {"tzdata", "types-requests", "types-pyyaml", "types-psutil"}


def _pyproject_requirements() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    listed = project["dependencies"] + project["optional-dependencies"]["dev"]
    return [Requirement(text) for text in listed]


def _pins() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, version = line.partition("==")
            assert version, f"constraints.txt: {line!r} is not pinned with =="
            pins[canonicalize_name(name)] = version.strip()
    return pins


def _installed_closure() -> set[str]:
    """Every distribution blazecast[dev] needs, transitively, in this environment."""
    seen: set[str] = set()
    todo = [(r, "dev") for r in _pyproject_requirements()]
    while todo:
        requirement, extra = todo.pop()
        if requirement.marker and not requirement.marker.evaluate({"extra": extra}):
            continue
        name = canonicalize_name(requirement.name)
        if name in seen:
            continue
        seen.add(name)
        for text in metadata.requires(requirement.name) or []:
            for wanted in requirement.extras or {""}:
                todo.append((Requirement(text), wanted))
    return seen


def test_every_direct_dependency_has_an_upper_bound() -> None:
    for requirement in _pyproject_requirements():
        if canonicalize_name(requirement.name) in UNBOUNDED:
            continue
        assert any(s.operator in ("<", "<=", "~=", "==") for s in requirement.specifier), (
            f"pyproject.toml: {requirement} has no upper bound"
        )


def test_constraints_pin_everything_installed_within_the_ranges() -> None:
    pins = _pins()
    missing = sorted(_installed_closure() - set(pins))
    assert not missing, f"constraints.txt does not pin {missing}; run scripts/lock"
    for requirement in _pyproject_requirements():
        pinned = pins[canonicalize_name(requirement.name)]
        assert requirement.specifier.contains(pinned, prereleases=True), (
            f"constraints.txt pins {requirement.name}=={pinned}, outside {requirement}"
        )


def test_ci_docker_and_the_quick_start_install_the_pins() -> None:
    assert re.search(r"pip install .*-c constraints\.txt", (ROOT / "scripts/test").read_text())
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "COPY" in dockerfile and "constraints.txt" in dockerfile
    assert re.search(r"pip install .*-c constraints\.txt", dockerfile)
    quick_start = (ROOT / "README.md").read_text().split("## Quick start")[1].split("\n## ")[0]
    assert "-c constraints.txt" in quick_start
    assert (ROOT / "scripts/lock").stat().st_mode & 0o111
