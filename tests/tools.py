"""External programs some tests need (promtool, Chromium): found, or the test is skipped locally.

CI installs them (``.ci/run``) and sets ``BLAZECAST_REQUIRE_TOOLS=1``, which turns a missing
program into a failure, so a test that needs one can never pass in CI by being skipped.
"""

from __future__ import annotations

import os
import shutil

import pytest


def require_tool(*names: str) -> str:
    """The path of the first of ``names`` on PATH; skip (or fail, in CI) when none is there."""
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    wanted = " or ".join(names)
    if os.environ.get("BLAZECAST_REQUIRE_TOOLS") == "1":
        pytest.fail(f"{wanted} is not installed, and BLAZECAST_REQUIRE_TOOLS=1 requires it")
    pytest.skip(f"{wanted} is not installed (.ci/run installs it)")
