"""Hostile recipient files (issue 13, item 8): ``users import`` and audience id lists.

A CSV field over the csv module's 128 KB limit raised ``_csv.Error``; deeply nested JSON lines
raised ``RecursionError``; a non-UTF-8 audience file raised ``UnicodeDecodeError``. Now a bad
line is a row error (the others are imported) or, when the file cannot be read on, one line and
nothing imported; what was stored before is never lost.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session

from models import Recipient
from tests.cli.conftest import Cli
from tests.factories import add_recipients, default_bot_id
from worker import recipients
from worker.bots import user_id_checker
from worker.db import Database
from worker.recipient_files import (
    ImportAborted,
    RecipientRow,
    RowError,
    open_recipient_file,
)
from worker.secret_files import CredentialFile
from worker.user_id_lists import read_user_id_list

MIXIN = user_id_checker("mixin")


def _rows(path: Path) -> list[RecipientRow | RowError]:
    return list(open_recipient_file(path).rows(MIXIN))


def test_an_over_long_line_is_one_rejected_row(tmp_path: Path) -> None:
    good = [str(uuid.uuid4()) for _ in range(2)]
    path = tmp_path / "users.csv"
    path.write_text(f"user_id,tags\n{good[0]},vip\n{uuid.uuid4()},{'x' * 200_000}\n{good[1]},\n")
    rows = _rows(path)
    assert [str(r.user_id) for r in rows if isinstance(r, RecipientRow)] == good
    assert [str(r) for r in rows if isinstance(r, RowError)] == [
        "line 3: longer than 64 KB; not read"
    ]


def test_a_quoted_field_over_the_csv_limit_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "users.csv"
    lines = "\n".join("y" * 1000 for _ in range(200))
    path.write_text(f'user_id,tags\n{uuid.uuid4()},"{lines}"\n')
    with pytest.raises(ImportAborted, match=r"line \d+: field larger than field limit"):
        _rows(path)


def test_deeply_nested_json_lines_are_rejected_rows(tmp_path: Path) -> None:
    good = str(uuid.uuid4())
    path = tmp_path / "users.jsonl"
    deep = '{"user_id": ' + "[" * 20_000 + "]" * 20_000 + "}"  # 40 KB: under the line bound
    path.write_text(f'{deep}\n{{"user_id": "{good}"}}\n')
    rows = _rows(path)
    assert str(rows[0]) == "line 1: invalid JSON (nested too deeply)"
    assert isinstance(rows[1], RecipientRow) and str(rows[1].user_id) == good


def test_too_many_fields_are_refused_and_ignored_names_are_bounded(tmp_path: Path) -> None:
    header = tmp_path / "wide.csv"
    header.write_text(",".join(["user_id", *(f"c{i}" for i in range(60))]) + "\n")
    with pytest.raises(ImportAborted, match="the first row has 61 columns, at most 50"):
        _rows(header)
    path = tmp_path / "users.jsonl"
    wide = {"user_id": str(uuid.uuid4()), **{f"k{i}": 1 for i in range(60)}}
    many = [{"user_id": str(uuid.uuid4()), f"{'n' * 5000}{i}": 1} for i in range(100)]
    path.write_text("\n".join(json.dumps(d) for d in [wide, *many]) + "\n")
    source = open_recipient_file(path)
    rows = list(source.rows(MIXIN))
    assert str(rows[0]) == "line 1: has 61 fields, at most 50"
    assert len(source.ignored_columns) <= 20
    assert all(len(name) <= 41 for name in source.ignored_columns)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"\xff\xfe" + "7b3f0c8e".encode("utf-16-le"), "line 1 is not UTF-8 text"),
        (b"7b3f0c8e-2f41-4a8e-9a55-0d7c6f1f4b1\xe9\n", "line 1 is not UTF-8 text"),
        (b"x" * 70_000, "line 1 is longer than"),
    ],
)
def test_a_bad_audience_list_is_one_line(tmp_path: Path, content: bytes, expected: str) -> None:
    path = tmp_path / "ids.txt"
    path.write_bytes(content)
    with pytest.raises(ImportAborted, match=expected):
        read_user_id_list(path, MIXIN)


def test_a_keystore_is_never_an_audience_list(tmp_path: Path) -> None:
    path = tmp_path / "ids.txt"
    path.write_text('{\n  "client_id": "x",\n  "private_key": "SECRETSECRET"\n}\n')
    with pytest.raises(CredentialFile) as caught:
        read_user_id_list(path, MIXIN)
    assert "SECRETSECRET" not in str(caught.value)


def test_the_cli_imports_the_good_rows_of_a_hostile_file(
    cli: Cli, clean_db: Database, tmp_path: Path
) -> None:
    good = str(uuid.uuid4())
    path = tmp_path / "users.csv"
    path.write_bytes(
        f"user_id,tags\n{good},vip\n{uuid.uuid4()},{'x' * 100_000}\n".encode()
        + b"not-a-uuid,\xff\n"
    )
    line = cli.fails("users", "import", str(path))
    assert line.endswith("line 4 is not UTF-8 text; save the file as UTF-8")
    path.write_text(f"user_id,tags\n{good},vip\n{uuid.uuid4()},{'x' * 100_000}\n")
    outcome = cli.run("users", "import", str(path))
    assert outcome.exit_code == 0 and "line 3: longer than 64 KB" in outcome.stderr
    assert good in cli.ok("users", "list")


# --- properties: any file is rows and row errors, or one line; nothing stored is lost ---------

cells = st.one_of(
    st.uuids().map(str),
    st.uuids().map(lambda u: str(u).upper()),
    st.text(max_size=30),
    st.sampled_from(["vip;beta", "Europe/Paris", "America", "[/]", '"', "\\", "\x00", "user_id"]),
)
csv_text = st.lists(st.lists(cells, max_size=5).map(",".join), max_size=12).map("\n".join)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | cells,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner),
    max_leaves=8,
)
json_lines = st.lists(
    st.one_of(
        st.fixed_dictionaries(
            {"user_id": cells}, optional={"tags": json_values, "time_zone": json_values}
        ).map(json.dumps),
        json_values.map(json.dumps),
        st.text(max_size=30),
    ),
    max_size=12,
).map("\n".join)


@pytest.fixture
def stored(db_session: Session) -> dict[str, tuple[str, ...]]:
    """Recipients imported before the hostile file, with their tags."""
    ids = add_recipients(db_session, 3, tags=["before"])
    return {user_id: ("before",) for user_id in ids}


def _import_or_abort(session: Session, path: Path, stored: dict[str, tuple[str, ...]]) -> None:
    savepoint = session.begin_nested()
    try:
        report = recipients.import_recipients(
            session, open_recipient_file(path).rows(MIXIN), bot_id=default_bot_id(session)
        )
    except (ImportAborted, CredentialFile) as error:  # a file that looks like a key: refused whole
        savepoint.rollback()
        assert "\n" not in str(error)
    else:
        savepoint.commit()
        assert all("\n" not in str(e) for e in report.errors)
    present = {
        str(r.user_id): tuple(r.tags)
        for r in session.execute(
            select(Recipient).where(Recipient.user_id.in_(list(stored)))
        ).scalars()
    }
    assert present == stored  # never named in the file, so never changed


@given(text=csv_text, name=st.sampled_from(["users.csv", "users.txt", "users"]))
def test_any_csv_is_rows_or_one_line(
    db_session: Session, tmp_path: Path, stored: dict[str, tuple[str, ...]], text: str, name: str
) -> None:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    _import_or_abort(db_session, path, stored)


@given(text=json_lines)
@example(text='"APP_SECRET":')  # looks like a key file: refused whole, in one line (found by Hypothesis)
def test_any_json_lines_are_rows_or_one_line(
    db_session: Session, tmp_path: Path, stored: dict[str, tuple[str, ...]], text: str
) -> None:
    path = tmp_path / "users.jsonl"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    _import_or_abort(db_session, path, stored)


@given(raw=st.binary(max_size=400), name=st.sampled_from(["users.csv", "users.jsonl", "ids"]))
def test_any_bytes_are_rows_or_one_line(
    db_session: Session, tmp_path: Path, stored: dict[str, tuple[str, ...]], raw: bytes, name: str
) -> None:
    path = tmp_path / name
    path.write_bytes(raw)
    _import_or_abort(db_session, path, stored)
    try:
        read_user_id_list(path, MIXIN)
    except (ImportAborted, CredentialFile) as error:
        assert "\n" not in str(error)


def test_the_cli_refuses_a_keystore_as_users_in_one_line(
    cli: Cli, clean_db: Database, tmp_path: Path
) -> None:
    from simulator.identity import BotIdentity

    path = BotIdentity.derive(5, 0).write_keystore(tmp_path / "keystore.json")
    secret = json.loads(path.read_text())["session_private_key"]
    for args in (("users", "import", str(path)), ("users", "unsubscribe", "--file", str(path))):
        line = cli.fails(*args)
        assert "holds credentials" in line and secret[:16] not in line
