"""The README's commands work when pasted in order on a fresh machine: the blocks marked
``<!-- runnable -->`` run, in order, in one shell started without the virtualenv, from a folder laid
out like a fresh clone, against the embedded engines on a fresh ``BLAZECAST_HOME``. A block marked
``<!-- runnable exit=N -->`` must end with that exit code (``blazecast doctor`` reporting what is
missing), and nothing may print a traceback."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
BLOCK = re.compile(r"<!-- runnable(?: exit=(\d+))? -->\n```bash\n(.*?)```", re.S)


def _script(blocks: list[tuple[str, str]]) -> str:
    """One bash script: each block under ``set -e``, or, if it expects an exit code, run with
    ``set +e`` and its code printed for the test to compare."""
    lines = ["set -uo pipefail"]
    for index, (code, block) in enumerate(blocks):
        if code:
            lines += ["set +e", block, f'echo "readme-block-{index}-exit=$?"']
        else:
            lines += ["set -e", block, "set +e"]
    return "\n".join(lines)


def test_the_readmes_runnable_blocks_work_in_order_on_a_fresh_home(tmp_path: Path) -> None:
    blocks = BLOCK.findall((REPO / "README.md").read_text())
    assert len(blocks) >= 2, "the README lost its runnable blocks"
    clone = tmp_path / "clone"
    clone.mkdir()
    for name in (".venv", "examples"):
        (clone / name).symlink_to(REPO / name)
    # Not under pytest's 0700 temp folder: the embedded Postgres runs as its own user under root.
    home = REPO / ".blazecast" / "tests" / f"readme-{uuid.uuid4().hex[:8]}"
    venv_bin = str(REPO / ".venv" / "bin")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BLAZECAST_", "VIRTUAL_ENV"))}
    env["PATH"] = os.pathsep.join(p for p in env["PATH"].split(os.pathsep) if p != venv_bin)
    env["BLAZECAST_HOME"] = str(home)
    try:
        run = subprocess.run(
            ["bash", "-c", _script(blocks)],
            cwd=clone,
            env=env,
            capture_output=True,
            text=True,
            timeout=280,
        )
    finally:
        subprocess.run(
            [f"{venv_bin}/blazecast", "engines", "stop"], env=env, capture_output=True, timeout=60
        )
        shutil.rmtree(home, ignore_errors=True)
    shown = f"exit {run.returncode}\n--- stdout\n{run.stdout}\n--- stderr\n{run.stderr}"
    assert run.returncode == 0, shown
    assert "Traceback" not in run.stderr, shown
    for index, (code, _) in enumerate(blocks):
        if code:
            assert f"readme-block-{index}-exit={code}" in run.stdout, shown
    assert "imported 1" in run.stdout, shown  # the users block did its work
    assert "created" in run.stdout, shown  # and so did the example script
