"""Hostile announcement files (issue 13, items 4 and 8): ``announce create --file``.

Whoever can write the file must not be able to broadcast the bot's keystore or any file outside
the file's folder; a malformed file (not UTF-8, an alias bomb, deep nesting, too large) is one
line naming the file and stores nothing.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import func, select

from models import Announcement
from simulator.identity import BotIdentity
from tests.cli.conftest import Cli
from worker.broadcast.service import InvalidAnnouncement
from worker.cli.announce_input import FILE_KEYS, Files, build_draft, read_spec_file
from worker.db import Database


def _keystore(folder: Path, legacy: bool = False) -> tuple[Path, str]:
    path = BotIdentity.derive(5, 0).write_keystore(
        folder / "keystore.json", "legacy" if legacy else "current"
    )
    data = json.loads(path.read_text())
    return path, data.get("session_private_key") or data["private_key"]


def _stored(database: Database) -> int:
    with database.session() as session:
        return session.execute(select(func.count()).select_from(Announcement)).scalar_one()


@pytest.mark.parametrize("legacy", [False, True])
def test_a_keystore_next_door_is_never_broadcast(
    cli: Cli, clean_db: Database, tmp_path: Path, legacy: bool
) -> None:
    _, secret = _keystore(tmp_path, legacy)
    (tmp_path / "campaign").mkdir()
    spec = tmp_path / "campaign" / "sale.yaml"
    spec.write_text("title: Sale\npost_file: ../keystore.json\n")

    line = cli.fails("announce", "create", "--file", str(spec), "--dry-run")
    assert line.startswith("error: post_file:") and "outside" in line
    # Even allowed outside the folder, a keystore is refused, and never quoted.
    outcome = cli.run("announce", "create", "--file", str(spec), "--allow-outside-files")
    assert outcome.exit_code == 1 and "holds credentials" in outcome.stderr
    assert secret[:16] not in outcome.stderr + outcome.stdout
    assert _stored(clean_db) == 0


@pytest.mark.parametrize(
    "yaml_text",
    [
        "data_file: keystore.json\ncategory: APP_CARD\n",
        "post_file: keystore.json\n",
        "text: hi\naudience: {users_file: keystore.json}\n",
        "text: hi\naudience: file:keystore.json\n",
    ],
)
def test_a_keystore_in_the_same_folder_is_refused_by_every_field(
    cli: Cli, clean_db: Database, tmp_path: Path, yaml_text: str
) -> None:
    _, secret = _keystore(tmp_path)
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml_text)
    outcome = cli.run("announce", "create", "--file", str(spec), "--allow-outside-files")
    assert outcome.exit_code == 1, outcome.stdout
    assert "holds credentials" in outcome.stderr
    assert secret[:16] not in outcome.stderr + outcome.stdout
    assert _stored(clean_db) == 0


def test_the_post_flag_refuses_a_keystore_too(cli: Cli, clean_db: Database, tmp_path: Path) -> None:
    path, secret = _keystore(tmp_path)
    line = cli.fails("announce", "create", "--post", str(path), "--dry-run")
    assert "holds credentials" in line and secret[:16] not in line


def test_a_symlink_out_of_the_folder_is_outside(
    cli: Cli, clean_db: Database, tmp_path: Path
) -> None:
    (tmp_path / "private.md").write_text("# internal notes")
    (tmp_path / "campaign").mkdir()
    (tmp_path / "campaign" / "post.md").symlink_to(tmp_path / "private.md")
    spec = tmp_path / "campaign" / "sale.yaml"
    spec.write_text("post_file: post.md\n")
    assert "outside" in cli.fails("announce", "create", "--file", str(spec), "--dry-run")
    # The operator may allow it, on purpose.
    shown = cli.ok("announce", "create", "--file", str(spec), "--dry-run", "--allow-outside-files")
    assert "internal notes" in shown


def test_files_inside_the_folder_still_work(cli: Cli, clean_db: Database, tmp_path: Path) -> None:
    (tmp_path / "posts").mkdir()
    (tmp_path / "posts" / "news.md").write_text("# Big news\n\nRead on.")
    spec = tmp_path / "news.yaml"
    spec.write_text("post_file: posts/news.md\n")
    assert "Big news" in cli.ok("announce", "create", "--file", str(spec), "--dry-run")


# "Billion laughs" inside a payload: nine levels of nine aliases, 387 million strings once
# json.dumps expands them (on 0245b3f the process grew until killed).
ALIAS_BOMB = "\n".join(
    ["category: APP_CARD", "data:", "  a: &a [x, x, x, x, x, x, x, x, x]"]
    + [
        f"  {name}: &{name} [{', '.join([f'*{previous}'] * 9)}]"
        for previous, name in zip("abcdefgh", "bcdefghi", strict=True)
    ]
)


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("bomb.yaml", ALIAS_BOMB.encode(), "aliases (*name) are not allowed"),
        ("latin1.yaml", "title: Caf\xe9\ntext: hi\n".encode("latin-1"), "is not UTF-8 text"),
        ("deep.yaml", b"text: " + b"[" * 5000 + b"]" * 5000, "nested too deeply"),
        ("deep.json", b'{"data": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "nested too deeply"),
        ("huge.yaml", b"text: " + b"x" * (2 << 20), "larger than 1 MiB"),
        ("list.yaml", b"- text: hi\n", "must hold an object"),
        ("keys.yaml", b"1: x\ntext: hi\n", "unknown field '1'"),
        ("complex.yaml", b"? [a, b]\n: 1\n", "not valid JSON/YAML"),
    ],
)
def test_a_malformed_file_is_one_line_and_stores_nothing(
    cli: Cli, clean_db: Database, tmp_path: Path, name: str, content: bytes, expected: str
) -> None:
    spec = tmp_path / name
    spec.write_bytes(content)
    line = cli.fails("announce", "create", "--file", str(spec))
    assert expected in line
    assert _stored(clean_db) == 0


# --- properties ------------------------------------------------------------------------------

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True),
    st.text(max_size=50),
    st.sampled_from(["all", "tags:a,b", "file:../x", "PLAIN_POST", "2026-05-01 09:00", "America"]),
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)
specs = st.dictionaries(st.sampled_from(sorted(FILE_KEYS)), values, max_size=6)


def _one_line_or_draft(spec_path: Path) -> None:
    try:
        build_draft(read_spec_file(spec_path), files=Files(spec_path.parent, confined=True))
    except InvalidAnnouncement as error:
        assert str(error) and "\n" not in str(error)


@given(spec=specs)
def test_any_announcement_file_is_a_draft_or_one_line(tmp_path: Path, spec: dict) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec, allow_unicode=True))
    _one_line_or_draft(path)


@given(raw=st.binary(max_size=300))
def test_any_bytes_are_a_draft_or_one_line(tmp_path: Path, raw: bytes) -> None:
    for name in ("spec.yaml", "spec.json"):
        path = tmp_path / name
        path.write_bytes(raw)
        _one_line_or_draft(path)
