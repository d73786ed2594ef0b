"""Titles in the report's PNG (issue 13, item 8): ``$…$`` is text, not matplotlib math.

A title such as ``Save $5 on $x^$`` made ``announce report`` fail while drawing the PNG, after
the CSV had been written.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from worker.report import CURVES, Curves, draw_curves

CURVES_OF_TWO = Curves(
    datetime(2030, 1, 1, tzinfo=UTC), [0.0, 1.0, 2.0], {name: [0, 1, 2] for name in CURVES}
)
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    "title", ["Save $5 on $x^$", "$\\frac{$", "$$", "\\$", "$\\undefinedcommand$", "50% off _now_"]
)
def test_a_title_with_math_signs_is_drawn_as_text(tmp_path: Path, title: str) -> None:
    path = tmp_path / "report.png"
    draw_curves(CURVES_OF_TWO, title, path)
    assert path.read_bytes().startswith(PNG)


@pytest.mark.hostile_full  # a figure per example: too slow for the default run
@given(title=st.text(max_size=80))
def test_any_title_draws(tmp_path: Path, title: str) -> None:
    path = tmp_path / "report.png"
    draw_curves(CURVES_OF_TWO, title, path)
    assert path.read_bytes().startswith(PNG)
