"""Importing recipients (``worker.recipients``, ``worker.recipient_files``) into real Postgres."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models import Bot, BotProvider, Recipient, RecipientStatus
from tests.factories import default_bot_id
from worker import recipients
from worker.bots import user_id_checker
from worker.db import Database
from worker.recipient_files import (
    ImportAborted,
    RecipientRow,
    RowError,
    open_recipient_file,
)
from worker.user_id_lists import read_user_id_list

MIXIN = user_id_checker("mixin")


def _import(session: Session, path: Path, **kwargs: object) -> recipients.ImportReport:
    source = open_recipient_file(path)
    kwargs.setdefault("bot_id", default_bot_id(session))
    check = user_id_checker(str(kwargs.pop("provider", "mixin")))
    return recipients.import_recipients(session, source.rows(check), **kwargs)  # type: ignore[arg-type]


def _count(session: Session) -> int:
    return int(session.execute(select(func.count()).select_from(Recipient)).scalar_one())


def test_many_chunks_land_on_their_bot(db_session: Session, tmp_path: Path) -> None:
    ids = [str(uuid.uuid4()) for _ in range(2_500)]
    path = tmp_path / "users.csv"
    path.write_text("user_id\n" + "\n".join(ids) + "\n")
    seen: list[int] = []
    other = Bot(name="other", provider=BotProvider.MIXIN, credentials="env:OTHER_KEYSTORE")
    db_session.add(other)
    db_session.flush()

    report = _import(
        db_session,
        path,
        bot_id=other.id,
        chunk_rows=1_000,
        on_chunk=lambda r: seen.append(r.inserted),
    )
    again = _import(db_session, path)  # the same people on the default bot are new recipients

    assert (report.rows, report.inserted, report.unchanged) == (2_500, 2_500, 0)
    assert seen == [1_000, 2_000, 2_500]  # progress after each stored chunk
    assert again.inserted == 2_500
    on_other = db_session.execute(
        select(func.count()).select_from(Recipient).where(Recipient.bot_id == other.id)
    ).scalar_one()
    assert on_other == 2_500


def test_headerless_csv_with_bom_quoted_tags_and_uppercase_ids(
    db_session: Session, tmp_path: Path
) -> None:
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    path = tmp_path / "export.txt"
    path.write_bytes(
        ("\ufeff" + f'{first.upper()},"vip, beta | vip",Europe/Berlin\n{second}\n').encode()
    )

    report = _import(db_session, path)

    assert (report.inserted, report.errors) == (2, [])
    rows = {str(r.user_id): r for r in db_session.execute(select(Recipient)).scalars()}
    assert rows[first].tags == ["vip", "beta"] and rows[first].time_zone == "Europe/Berlin"
    assert rows[second].tags == []


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ('{"user_id": 42}', "user_id: '42' is not a UUID"),
        ('{"tags": ["x"]}', "user_id: missing"),
        ('{"user_id": "%s", "tags": "' + "t" * 65 + '"}', "longer than 64 characters"),
        ('{"user_id": "%s", "tags": [1]}', "tags: 1 is not a string"),
        ('{"user_id": "%s", "time_zone": "Nowhere/Land"}', "unknown time zone 'Nowhere/Land'"),
        ('{"user_id": "%s",', "invalid JSON"),
    ],
)
def test_each_bad_json_line_is_reported_with_its_reason(
    db_session: Session, tmp_path: Path, line: str, reason: str
) -> None:
    good = str(uuid.uuid4())
    path = tmp_path / "users.jsonl"
    bad = line % str(uuid.uuid4()) if "%s" in line else line
    path.write_text(f'{{"user_id": "{good}"}}\n{bad}\n')

    report = _import(db_session, path)

    assert report.inserted == 1
    assert len(report.errors) == 1 and report.errors[0].line == 2
    assert reason in report.errors[0].reason


def test_a_file_that_is_not_utf8_imports_nothing(db_session: Session, tmp_path: Path) -> None:
    path = tmp_path / "users.csv"
    path.write_bytes(b"user_id,tags\n" + f"{uuid.uuid4()},caf\xe9\n".encode("latin-1"))
    with pytest.raises(ImportAborted, match="line 2 is not UTF-8"):
        _import(db_session, path)


def test_an_interruption_mid_import_leaves_nothing_behind(clean_db: Database) -> None:
    def rows() -> Iterator[RecipientRow | RowError]:
        for line in range(1, 12_001):
            yield RecipientRow(line, uuid.uuid4())
        raise KeyboardInterrupt  # Ctrl-C after two chunks were written

    with pytest.raises(KeyboardInterrupt), clean_db.session() as session:
        recipients.import_recipients(session, rows(), bot_id=default_bot_id(session))
    with clean_db.session() as session:
        assert _count(session) == 0


def test_reimport_never_resubscribes_and_only_changes_given_fields(
    db_session: Session, tmp_path: Path
) -> None:
    user = str(uuid.uuid4())
    first = tmp_path / "first.csv"
    first.write_text(f"user_id,tags,time_zone\n{user},a;b,Asia/Tokyo\n")
    _import(db_session, first)
    bot = default_bot_id(db_session)
    recipients.set_status(
        db_session, bot, [user], RecipientStatus.UNSUBSCRIBED, "sent /stop", MIXIN
    )
    without_fields = tmp_path / "ids.csv"
    without_fields.write_text(f"user_id\n{user}\n")

    report = _import(db_session, without_fields)

    assert (report.inserted, report.updated) == (0, 0)
    row = db_session.execute(select(Recipient)).scalar_one()
    db_session.refresh(row)
    assert row.status is RecipientStatus.UNSUBSCRIBED and row.status_reason == "sent /stop"
    assert (row.tags, row.time_zone) == (["a", "b"], "Asia/Tokyo")
    assert _import(db_session, without_fields).unchanged == 1


def test_a_list_of_user_ids_names_its_bad_line(tmp_path: Path) -> None:
    path = tmp_path / "ids.txt"
    good = str(uuid.uuid4())
    path.write_text(f"# audience\n{good}\n\n{good[:-1]}\n")
    with pytest.raises(ImportAborted, match="line 4: user_id"):
        read_user_id_list(path, MIXIN)
    path.write_text(f"user_id\n{good.upper()}\n")
    assert read_user_id_list(path, MIXIN) == [good]
