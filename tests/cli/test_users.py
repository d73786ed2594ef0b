"""``blazecast users import|list|show|unsubscribe`` through the real database."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from sqlalchemy import func, select

from models import Recipient, RecipientStatus
from tests.cli.conftest import Cli
from tests.factories import add_recipients
from worker.db import Database


def _ids(n: int) -> list[str]:
    return [str(uuid.uuid4()) for _ in range(n)]


def _stored(database: Database) -> dict[str, Recipient]:
    with database.session() as session:
        return {str(r.user_id): r for r in session.execute(select(Recipient)).scalars()}


def test_import_csv_stores_users_and_reports_each_bad_row_by_line(
    cli: Cli, clean_db: Database, tmp_path: Path
) -> None:
    good = _ids(3)
    users = tmp_path / "users.csv"
    users.write_text(
        "user_id,tags,time_zone,email\n"
        f"{good[0]},vip;beta,Europe/Paris,a@example.com\n"
        "not-a-uuid,vip,,b@example.com\n"
        f"{good[1]},,,c@example.com\n"
        f"{good[2]},vip,Mars/Olympus,d@example.com\n"
    )
    outcome = cli.run("users", "import", str(users))

    assert outcome.exit_code == 0
    assert "imported 2 rows: 2 new" in outcome.stdout
    assert "ignored columns: email" in outcome.stdout
    assert "line 3: user_id: 'not-a-uuid' is not a UUID" in outcome.stderr
    assert "line 5: time_zone: unknown time zone 'Mars/Olympus'" in outcome.stderr
    stored = _stored(clean_db)
    assert set(stored) == {good[0], good[1]}
    assert stored[good[0]].tags == ["vip", "beta"]
    assert stored[good[0]].time_zone == "Europe/Paris"
    assert stored[good[1]].tags == [] and stored[good[1]].time_zone is None


def test_import_json_lines_with_json_output(cli: Cli, clean_db: Database, tmp_path: Path) -> None:
    ids = _ids(2)
    users = tmp_path / "users.jsonl"
    users.write_text(
        json.dumps({"user_id": ids[0], "tags": ["a", "b"], "time_zone": "Asia/Tokyo"})
        + "\n\n"
        + json.dumps({"user_id": ids[1]})
        + "\n[1, 2]\n"
    )
    report = json.loads(cli.ok("users", "import", str(users), "--json"))

    assert (report["rows"], report["inserted"]) == (2, 2)
    assert report["rejected"] == [{"line": 4, "reason": "must be a JSON object with a user_id"}]
    assert _stored(clean_db)[ids[0]].tags == ["a", "b"]


def test_too_many_bad_rows_import_nothing_at_all(
    cli: Cli, clean_db: Database, tmp_path: Path
) -> None:
    # The good rows come first, in more than one chunk's worth: they must not stay behind.
    lines = ["user_id"] + _ids(6_000) + ["bad-1", "bad-2", "bad-3"]
    users = tmp_path / "users.csv"
    users.write_text("\n".join(lines) + "\n")

    error = cli.fails("users", "import", str(users), "--max-errors", "2")

    assert "more than 2 bad rows" in error and "nothing was imported" in error
    assert "line 6002" in error
    assert _stored(clean_db) == {}


def test_strict_import_stops_at_the_first_bad_row(
    cli: Cli, clean_db: Database, tmp_path: Path
) -> None:
    users = tmp_path / "users.csv"
    users.write_text("user_id\n" + "\n".join(_ids(3)) + "\n123\n")

    error = cli.fails("users", "import", str(users), "--strict")

    assert error.startswith("error: line 5: user_id: '123' is not a UUID")
    assert _stored(clean_db) == {}


def test_a_file_without_user_ids_is_refused_in_one_line(cli: Cli, tmp_path: Path) -> None:
    users = tmp_path / "users.csv"
    users.write_text("name,email\nann,ann@example.com\n")
    error = cli.fails("users", "import", str(users))
    assert "neither a header with a user_id column" in error


def test_reimport_updates_tags_but_keeps_unsubscribed_users_unsubscribed(
    cli: Cli, clean_db: Database, tmp_path: Path
) -> None:
    ids = _ids(3)
    first = tmp_path / "first.csv"
    first.write_text("user_id,tags\n" + "".join(f"{u},old\n" for u in ids))
    cli.ok("users", "import", str(first))
    cli.ok("users", "unsubscribe", ids[0])
    again = tmp_path / "again.csv"
    again.write_text(
        f"user_id,tags\n{ids[0]},new\n{ids[1]},old\n{ids[2]},old;extra\n{ids[2]},new\n"
    )

    report = json.loads(cli.ok("users", "import", str(again), "--json"))

    assert (report["inserted"], report["updated"], report["unchanged"]) == (0, 2, 1)
    assert report["duplicates"] == 1
    stored = _stored(clean_db)
    assert stored[ids[0]].status is RecipientStatus.UNSUBSCRIBED
    assert stored[ids[0]].tags == ["new"]
    assert stored[ids[2]].tags == ["new"]  # the later row of a repeated user wins


def test_list_filters_by_tag_and_status_and_pages(cli: Cli, clean_db: Database) -> None:
    with clean_db.session() as session:
        vips = add_recipients(session, 3, tags=["vip"])
        add_recipients(session, 2)
        gone = add_recipients(session, 1, status=RecipientStatus.UNSUBSCRIBED)

    listed = cli.ok("users", "list", "--tag", "vip", "--limit", "2")
    assert vips[0] in listed and vips[1] in listed and vips[2] not in listed
    assert "showing 2 of 3" in listed and "unsubscribed: 1" in listed
    rows = [
        json.loads(line)
        for line in cli.ok("users", "list", "--status", "unsubscribed", "--json").splitlines()
    ]
    assert [r["user_id"] for r in rows] == gone


def test_show_tells_status_and_history_and_unknown_users_fail_in_one_line(
    cli: Cli, clean_db: Database
) -> None:
    with clean_db.session() as session:
        (user,) = add_recipients(session, 1, tags=["beta"])
    shown = json.loads(cli.ok("users", "show", user, "--json"))
    assert shown["user_id"] == user and shown["tags"] == ["beta"] and shown["recent"] == []

    missing = str(uuid.uuid4())
    assert cli.fails("users", "show", missing) == (
        f"error: 1 user id(s) are not recipients: {missing}"
    )
    assert cli.fails("users", "show", "nope") == "error: user_id: 'nope' is not a UUID"


def test_unsubscribe_is_all_or_nothing(cli: Cli, clean_db: Database, tmp_path: Path) -> None:
    with clean_db.session() as session:
        ids = add_recipients(session, 3)
    stranger = str(uuid.uuid4())

    error = cli.fails("users", "unsubscribe", ids[0], stranger)
    assert stranger in error
    assert _count(clean_db, RecipientStatus.UNSUBSCRIBED) == 0

    listed = tmp_path / "complaints.txt"
    listed.write_text(f"# from support\n{ids[1]}\n\n{ids[2]}\n")
    out = cli.ok("users", "unsubscribe", ids[0], "--file", str(listed))
    assert "unsubscribed 3 user(s)" in out
    assert _stored(clean_db)[ids[0]].status_reason == "unsubscribed by operator"
    assert "unsubscribed 0 user(s); 1 already were" in cli.ok("users", "unsubscribe", ids[0])


def _count(database: Database, status: RecipientStatus) -> int:
    with database.session() as session:
        return int(
            session.execute(
                select(func.count()).select_from(Recipient).where(Recipient.status == status)
            ).scalar_one()
        )
