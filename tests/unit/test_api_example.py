"""The README's Python API example is ``examples/enqueue_announcement.py``, and it runs as written:
twice in a row, against a real database, storing its announcements once."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from sqlalchemy import select

from models import Announcement, AnnouncementStatus
from tests.environment import engine_env
from worker.config import Settings
from worker.db import Database

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "enqueue_announcement.py"


def test_the_readme_shows_the_example_file_verbatim() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("<!-- section:operations -->")[1].split("<!-- /section:operations -->")[
        0
    ]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)
    assert EXAMPLE.read_text(encoding="utf-8") in blocks


def test_the_example_runs_and_running_it_again_stores_nothing_new(
    settings: Settings, clean_db: Database, tmp_path: Path
) -> None:
    env = {**os.environ, **engine_env(settings, tmp_path)}
    runs = [
        subprocess.run(
            [sys.executable, str(EXAMPLE)],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
        for _ in range(2)
    ]

    for run in runs:
        assert run.returncode == 0, run.stderr
    assert runs[0].stdout.startswith("created ")
    assert runs[1].stdout.startswith("already enqueued ")
    assert "Maintenance window: scheduled for 2030-06-02 01:30 UTC" in runs[1].stdout
    assert "Spring sale: paused for 2030-03-20 08:00 UTC" in runs[1].stdout
    with clean_db.session() as session:
        stored = {a.title: a.status for a in session.execute(select(Announcement)).scalars()}
    assert stored == {
        "Maintenance window": AnnouncementStatus.SCHEDULED,
        "Spring sale": AnnouncementStatus.PAUSED,
    }
