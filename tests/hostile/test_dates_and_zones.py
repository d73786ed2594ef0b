"""Times, zones, ids and lengths from outside (issue 13, item 8).

``--tz America`` (a folder of the tz database) raised ``IsADirectoryError``; ``--at
"9999-12-31 23:59" --tz America/New_York`` raised ``OverflowError``; a 201-character title or a
10 KB ``--key`` reached Postgres, which answered ``StringDataRightTruncation`` with the SQL.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models import Announcement
from tests.cli.conftest import Cli
from tests.factories import add_announcement
from worker.broadcast.service import InvalidAnnouncement, resolve_time
from worker.broadcast.state import AnnouncementNotFound
from worker.db import Database
from worker.progress import AmbiguousId, resolve_id
from worker.recipient_files import valid_time_zone

HOSTILE_ZONES = [
    "America",
    "America/",
    "../../../etc/passwd",
    "/etc/localtime",
    "Europe/Paris\x00",
    "tzdata.zi",
    "__init__.py",
    "x" * 5000,
    "",
    "Europe\\Paris",
]


@pytest.mark.parametrize("zone", HOSTILE_ZONES)
def test_a_hostile_time_zone_is_refused_in_one_line(zone: str) -> None:
    assert not valid_time_zone(zone)
    with pytest.raises(InvalidAnnouncement, match="^time_zone: unknown time zone") as caught:
        resolve_time("2030-01-01 09:00", zone)
    assert len(str(caught.value)) < 120


@pytest.mark.parametrize(
    ("at", "zone"),
    [
        ("9999-12-31 23:59", "America/New_York"),
        ("0001-01-01 00:00", "Asia/Tokyo"),
        (datetime(9999, 12, 31, 23, 59), "Pacific/Pago_Pago"),
    ],
)
def test_a_date_out_of_range_in_its_zone_is_one_line(at: str | datetime, zone: str) -> None:
    with pytest.raises(InvalidAnnouncement, match="^at: .* is out of range$"):
        resolve_time(at, zone)


def test_the_cli_says_so_too(cli: Cli, clean_db: Database) -> None:
    base = ("announce", "create", "--text", "hi", "--dry-run")
    assert cli.fails(*base, "--tz", "America").startswith("error: time_zone: unknown time zone")
    line = cli.fails(*base, "--at", "9999-12-31 23:59", "--tz", "America/New_York")
    assert line == "error: at: 9999-12-31 23:59 is out of range"


@pytest.mark.parametrize(
    ("flag", "value", "field"),
    [("--title", "t" * 201, "title"), ("--key", "k" * 10_000, "key")],
)
def test_an_over_long_field_is_named_before_any_sql(
    cli: Cli, clean_db: Database, flag: str, value: str, field: str
) -> None:
    for extra in ((), ("--draft",)):
        line = cli.fails("announce", "create", "--text", "hi", flag, value, *extra)
        assert line == f"error: {field}: {len(value):,} characters, at most 200 are allowed"
    with clean_db.session() as session:
        assert session.execute(select(func.count()).select_from(Announcement)).scalar_one() == 0


# --- properties ------------------------------------------------------------------------------

times = st.one_of(
    st.none(),
    st.text(max_size=40),
    st.datetimes(),
    st.datetimes(timezones=st.timezones()),
    st.sampled_from(["9999-12-31 23:59", "0001-01-01", "2030-02-30 10:00", "2030-01-01T25:00"]),
)
zones = st.one_of(st.text(max_size=40), st.timezone_keys(), st.sampled_from(HOSTILE_ZONES))


@given(at=times, zone=zones)
def test_resolve_time_is_an_instant_or_one_line(at: object, zone: str) -> None:
    try:
        instant = resolve_time(at, zone)  # type: ignore[arg-type]
    except InvalidAnnouncement as error:
        assert str(error).split(":")[0] in ("time_zone", "at") and "\n" not in str(error)
    else:
        assert instant is None or instant.tzinfo is UTC


@given(prefix=st.text(max_size=60))
def test_any_id_prefix_finds_one_announcement_or_says_why(db_session: Session, prefix: str) -> None:
    try:
        found = resolve_id(db_session, prefix)
    except (AnnouncementNotFound, AmbiguousId) as error:
        assert "\n" not in str(error) and len(str(error)) < 200
    else:
        assert isinstance(found, uuid.UUID)


def test_an_id_prefix_is_not_a_pattern(db_session: Session) -> None:
    announcement = add_announcement(db_session, "Prefix")
    head = str(announcement.id)[:8]
    assert resolve_id(db_session, head.upper()) == announcement.id
    for hostile in ("%", "____", f"{head[:4]}%", f"{head[:4]}_", "' OR 1=1 --"):
        with pytest.raises(AnnouncementNotFound):
            resolve_id(db_session, hostile)
