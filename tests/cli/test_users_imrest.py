"""``blazecast users`` for an IM REST bot: its recipients are int64 ids (issue 12), next to a
Mixin bot whose recipients stay UUIDs."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from sqlalchemy import select

from models import Bot, BotProvider, Recipient, RecipientStatus
from tests.cli.conftest import Cli
from worker.db import Database

BEYOND = str(2**53)  # the first id a JSON parser reading doubles cannot keep exact
LARGEST = str(2**53 - 1)


@pytest.fixture
def imrest_bot(clean_db: Database) -> int:
    """An IM REST bot row (inserted directly: ``bots add --provider imrest`` is another change),
    next to the default Mixin bot."""
    with clean_db.session() as session:
        session.add(Bot(name="default", provider=BotProvider.MIXIN))
        bot = Bot(name="im", provider=BotProvider.IMREST, credentials="env:IMREST_TOKEN")
        session.add(bot)
        session.flush()
        return bot.id


def _stored(database: Database, bot_id: int) -> dict[str, Recipient]:
    with database.session() as session:
        rows = session.execute(select(Recipient).where(Recipient.bot_id == bot_id)).scalars()
        return {r.user_id: r for r in rows}


def test_an_imrest_bot_imports_integer_ids_and_names_each_bad_line(
    cli: Cli, clean_db: Database, imrest_bot: int, tmp_path: Path
) -> None:
    users = tmp_path / "users.csv"
    users.write_text(
        "user_id,tags\n"
        "12345,vip\n"
        f"{uuid.uuid4()},vip\n"
        "12a,\n"
        f"{BEYOND},\n"
        "0042,beta\n"
        f"{LARGEST},\n"
    )
    outcome = cli.run("users", "import", "--bot", "im", str(users))

    assert outcome.exit_code == 0, outcome.stderr
    assert "imported 3 rows: 3 new" in outcome.stdout
    errors = outcome.stderr
    assert "line 3: user_id " in errors and "a Mixin UUID, not an IM REST id" in errors
    assert "line 4: user_id '12a': an IM REST user id is a positive integer" in errors
    assert f"line 5: user_id {BEYOND}: beyond 2^53 - 1" in errors
    stored = _stored(clean_db, imrest_bot)
    assert set(stored) == {"12345", "42", LARGEST}  # canonical decimal text
    assert stored["42"].tags == ["beta"]


def test_header_less_and_json_lines_files_of_integer_ids(
    cli: Cli, clean_db: Database, imrest_bot: int, tmp_path: Path
) -> None:
    csv_file = tmp_path / "export.txt"
    csv_file.write_text("777,vip\n778\n")
    cli.ok("users", "import", "--bot", "im", str(csv_file))
    lines = tmp_path / "users.jsonl"
    lines.write_text(json.dumps({"user_id": 779}) + "\n" + json.dumps({"user_id": "780"}) + "\n")
    cli.ok("users", "import", "--bot", "im", str(lines))

    assert set(_stored(clean_db, imrest_bot)) == {"777", "778", "779", "780"}
    # A header-less file of UUIDs is not an IM REST audience: refused whole, in one line.
    uuids = tmp_path / "uuids.txt"
    uuids.write_text(f"{uuid.uuid4()}\n")
    error = cli.fails("users", "import", "--bot", "im", str(uuids))
    assert "neither a header with a user_id column nor a row starting with a user id" in error


def test_a_mixin_bot_next_to_it_still_reads_uuids(
    cli: Cli, clean_db: Database, imrest_bot: int, tmp_path: Path
) -> None:
    user = str(uuid.uuid4())
    users = tmp_path / "users.csv"
    users.write_text(f"user_id\n{user.upper()}\n12345\n")
    outcome = cli.run("users", "import", "--bot", "default", str(users))

    assert outcome.exit_code == 0
    assert "line 3: user_id: '12345' is not a UUID" in outcome.stderr
    with clean_db.session() as session:
        default = session.execute(select(Bot.id).where(Bot.name == "default")).scalar_one()
    assert set(_stored(clean_db, default)) == {user}
    assert _stored(clean_db, imrest_bot) == {}


def test_show_and_unsubscribe_take_the_bots_ids(
    cli: Cli, clean_db: Database, imrest_bot: int, tmp_path: Path
) -> None:
    users = tmp_path / "users.csv"
    users.write_text("user_id\n42\n43\n")
    cli.ok("users", "import", "--bot", "im", str(users))
    shown = json.loads(cli.ok("users", "show", "--bot", "im", "0042", "--json"))
    assert shown["user_id"] == "42"

    ids = tmp_path / "complaints.txt"
    ids.write_text("43\n")
    assert "unsubscribed 2 user(s)" in cli.ok("users", "unsubscribe", "--bot", "im", "42", "--file", str(ids))
    stored = _stored(clean_db, imrest_bot)
    assert {r.status for r in stored.values()} == {RecipientStatus.UNSUBSCRIBED}

    error = cli.fails("users", "show", "--bot", "im", "12a")
    assert error == "error: user_id '12a': an IM REST user id is a positive integer"


@pytest.mark.hostile
def test_an_id_beyond_2_53_aborts_a_strict_import_and_stores_nothing(
    cli: Cli, clean_db: Database, imrest_bot: int, tmp_path: Path
) -> None:
    # Beyond 2^53 a JavaScript proxy or a double-reading JSON parser could round the id to a
    # neighbour's: the message could reach someone else.
    users = tmp_path / "users.jsonl"
    users.write_text(
        "\n".join(json.dumps({"user_id": n}) for n in (1, 2, 2**53 + 1, 2**64)) + "\n"
    )
    error = cli.fails("users", "import", "--bot", "im", "--strict", str(users))

    assert error.startswith(f"error: line 3: user_id {2**53 + 1}: beyond 2^53 - 1")
    assert "nothing was imported" in error
    assert _stored(clean_db, imrest_bot) == {}

    lenient = cli.run("users", "import", "--bot", "im", str(users))
    assert lenient.exit_code == 0
    assert f"line 4: user_id {2**64}: beyond 2^53 - 1" in lenient.stderr
    assert set(_stored(clean_db, imrest_bot)) == {"1", "2"}
