"""Beat archives history only when the operator asks for it, with the task it registers."""

from __future__ import annotations

from worker.config import Settings
from worker.queues import celery_config
from worker.tasks import archive_history

URLS = {"database_url": "postgresql://x@localhost/db", "redis_url": "redis://localhost:6379/0"}


def test_no_archive_in_beat_by_default() -> None:
    assert "archive_history" not in celery_config(Settings(**URLS))["beat_schedule"]


def test_the_setting_puts_the_archive_in_beat() -> None:
    config = celery_config(Settings(**URLS, history_archive_after_days=90))
    entry = config["beat_schedule"]["archive_history"]
    assert entry["task"] == archive_history.name == "blazecast.archive_history"
    assert entry["schedule"] == 3600.0
