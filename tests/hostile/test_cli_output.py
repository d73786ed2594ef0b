"""Users' and operators' text printed by the CLI (issue 13, item 8): Rich markup is text.

A title or a tag holding ``[/]`` made ``users list``, ``announce list`` and the import's error
listing raise ``MarkupError``, the last one after the import had committed.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from models import Recipient, RecipientStatus
from tests.cli.conftest import Cli
from tests.factories import add_announcement, add_recipients
from worker.cli import render
from worker.db import Database

MARKUP = ["[/]", "[bold]x[/bold", "[link=file:///etc]x", "[/red] [", "\\[x]", "[on]"]


@pytest.mark.parametrize("text", MARKUP)
def test_markup_in_titles_and_tags_is_printed_as_it_is(
    cli: Cli, clean_db: Database, text: str
) -> None:
    with clean_db.session() as session:
        [user] = add_recipients(session, 1, tags=[text])
        add_announcement(session, f"Sale {text}", title=f"Sale {text}")
    assert text in cli.ok("users", "list")
    assert text in cli.ok("users", "show", user)
    assert f"Sale {text}" in cli.ok("announce", "list")


def test_the_import_error_listing_prints_markup_after_the_import_committed(
    cli: Cli, clean_db: Database, tmp_path: Path
) -> None:
    good = str(uuid.uuid4())
    users = tmp_path / "users.csv"
    users.write_text(f"user_id,tags,time_zone\n{good},vip,\n{uuid.uuid4()},,[/]\n")
    outcome = cli.run("users", "import", str(users))
    assert outcome.exit_code == 0, outcome.stderr
    assert "unknown time zone '[/]'" in outcome.stderr
    assert good in cli.ok("users", "list")


@given(text=st.text(max_size=60))
def test_any_tag_or_zone_renders_in_the_recipients_table(text: str) -> None:
    recipient = Recipient(
        user_id=str(uuid.uuid4()), status=RecipientStatus.ACTIVE, tags=[text], time_zone=text
    )
    console = render.console()
    with console.capture() as captured:
        console.print(render.recipients_table([recipient]))
        console.print(f"  {text}")
    assert captured.get()
