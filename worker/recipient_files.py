"""Reading recipient files: CSV or JSON lines, one user per row, with per-row errors.

A file names each user by ``user_id`` (the bot's provider's id: a Mixin user UUID, an IM REST
decimal int64, checked by the ``UserIdCheck`` the caller passes) and may give ``tags`` and a
``time_zone``. A row that cannot be used becomes a :class:`RowError` with its line number and the
reason; the reader carries on, so that one import reports every bad row at once. Problems with
the file as a whole (not UTF-8, no ``user_id`` column) raise :class:`ImportAborted`.

CSV: a header naming the columns (``user_id``, ``tags``, ``time_zone``; ``timezone`` and ``tz``
are accepted too; other columns are ignored and reported), or no header and the columns in that
order. Tags are separated by ``;``, ``,`` or ``|``. JSON lines: one object per line,
``{"user_id": "…", "tags": ["vip"], "time_zone": "Asia/Tokyo"}``; ``tags`` may also be a string,
and ``user_id`` a JSON integer (IM REST ids are numbers on their wire).
A field that is absent leaves what is stored unchanged; an empty ``tags`` clears the tags.

Bounds, each with a clear error: a line of more than 64 KB is rejected as a row (no real row is
longer than a UUID, a few tags and a zone name), as is a row of more than 50 fields; deeply
nested JSON is an invalid row. Plain lists of user ids are read by :mod:`worker.user_id_lists`.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from models.recipients import MAX_USER_ID_CHARS
from worker.secret_files import refuse_credentials
from worker.timezones import load_zone, shown

MAX_TAG_CHARS = 64  # recipients.tags is varchar(64)[]
MAX_LINE_BYTES = 64 * 1024
MAX_FIELDS = 50
# Ignored column names are reported; a hostile file could name millions, each of 64 KB.
MAX_IGNORED_SHOWN = 20
MAX_COLUMN_NAME_SHOWN = 40
_TAG_SEPARATORS = re.compile(r"[;,|]")
_COLUMN_ALIASES = {
    "user_id": "user_id",
    "userid": "user_id",
    "tags": "tags",
    "time_zone": "time_zone",
    "timezone": "time_zone",
    "tz": "time_zone",
}
_POSITIONAL = ("user_id", "tags", "time_zone")

#: A provider's ``check_user_id``: the canonical text of a user id, or ``ValueError`` naming the
#: field (``worker.bots.user_id_checker`` gives each provider's).
UserIdCheck = Callable[[str], str]


class ImportAborted(Exception):
    """The import stopped as a whole and stored nothing; the message is one line for the operator."""


@dataclass(frozen=True)
class RecipientRow:
    """One usable row. ``tags`` / ``time_zone`` are None when the row does not give them."""

    line: int
    user_id: str
    tags: tuple[str, ...] | None = None
    time_zone: str | None = None


@dataclass(frozen=True)
class RowError:
    """A row that was rejected, and why (the reason names the field)."""

    line: int
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


class RowProblem(ValueError):
    """A field of one row is invalid (raised inside parsing, turned into a RowError)."""


@dataclass
class RecipientFile:
    """An open recipient file: iterate it for rows; ``bytes_read`` follows the progress."""

    path: Path
    size: int
    bytes_read: int = 0
    ignored_columns: set[str] = field(default_factory=set)
    # Lines that were too long to parse, reported as rows in their turn.
    _overlong: list[int] = field(default_factory=list)

    def rows(self, check: UserIdCheck) -> Iterator[RecipientRow | RowError]:
        """The rows, each user id checked by ``check`` (the bot's provider's)."""
        with open(self.path, "rb") as handle:
            lines = self._decoded(handle)
            if _is_json_lines(self.path, self._peek(self.path)):
                parsed = self._json_rows(lines, check)
            else:
                parsed = self._csv_rows(lines, check)
            for item in parsed:
                yield from self._overlong_rows()
                yield item
            yield from self._overlong_rows()

    def _overlong_rows(self) -> Iterator[RowError]:
        while self._overlong:
            line = self._overlong.pop(0)
            yield RowError(line, f"longer than {MAX_LINE_BYTES // 1024} KB; not read")

    def _ignore(self, names: Iterable[str]) -> None:
        for name in names:
            if len(self.ignored_columns) >= MAX_IGNORED_SHOWN:
                return
            shown = (
                name if len(name) <= MAX_COLUMN_NAME_SHOWN else name[:MAX_COLUMN_NAME_SHOWN] + "…"
            )
            self.ignored_columns.add(shown)

    # --- formats --------------------------------------------------------------------------

    def _decoded(self, handle: IO[bytes]) -> Iterator[str]:
        for number, raw in enumerate(bounded_lines(handle), start=1):
            if raw is None:
                # Replaced by a blank line (skipped by both formats) and reported as a row.
                self._overlong.append(number)
                yield "\n"
                continue
            self.bytes_read += len(raw)
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise ImportAborted(
                    f"{self.path}: line {number} is not UTF-8 text; save the file as UTF-8"
                ) from None
            yield text.removeprefix("\ufeff") if number == 1 else text

    @staticmethod
    def _peek(path: Path) -> str:
        with open(path, "rb") as handle:
            for raw in handle:
                text = raw.decode("utf-8", errors="replace").strip().removeprefix("\ufeff")
                if text:
                    return text
        return ""

    def _json_rows(
        self, lines: Iterable[str], check: UserIdCheck
    ) -> Iterator[RecipientRow | RowError]:
        for number, text in enumerate(lines, start=1):
            if not text.strip():
                continue
            try:
                value = json.loads(text)
            except json.JSONDecodeError as error:
                yield RowError(number, f"invalid JSON ({error.msg}, column {error.colno})")
                continue
            except RecursionError:
                yield RowError(number, "invalid JSON (nested too deeply)")
                continue
            if not isinstance(value, dict):
                yield RowError(number, "must be a JSON object with a user_id")
                continue
            if len(value) > MAX_FIELDS:
                yield RowError(number, f"has {len(value)} fields, at most {MAX_FIELDS}")
                continue
            self._ignore(k for k in value if _COLUMN_ALIASES.get(k) is None)
            fields = {_COLUMN_ALIASES[k]: v for k, v in value.items() if k in _COLUMN_ALIASES}
            yield _row(number, fields, check)

    def _csv_rows(
        self, lines: Iterable[str], check: UserIdCheck
    ) -> Iterator[RecipientRow | RowError]:
        reader = csv.reader(lines)
        columns: tuple[str | None, ...] | None = None
        for cells in _csv_cells(reader, self.path):
            number = reader.line_num
            if not any(cell.strip() for cell in cells):
                continue
            if columns is None:
                columns, is_header = self._columns(cells, check)
                if is_header:
                    continue
            fields: dict[str, Any] = {}
            for name, cell in zip(columns, cells, strict=False):
                if name is not None:
                    fields[name] = cell
            if len(cells) > len(columns) and any(c.strip() for c in cells[len(columns) :]):
                yield RowError(number, f"has {len(cells)} columns, the header {len(columns)}")
                continue
            yield _row(number, fields, check)

    def _columns(
        self, first: list[str], check: UserIdCheck
    ) -> tuple[tuple[str | None, ...], bool]:
        """The column of each cell, and whether ``first`` was a header (else it is data)."""
        if len(first) > MAX_FIELDS:
            raise ImportAborted(
                f"{self.path}: the first row has {len(first)} columns, at most {MAX_FIELDS}"
            )
        names = [cell.strip().lower() for cell in first]
        if "user_id" in (_COLUMN_ALIASES.get(n) for n in names):
            self._ignore(n for n in names if n not in _COLUMN_ALIASES)
            return tuple(_COLUMN_ALIASES.get(n) for n in names), True
        try:
            parse_user_id(first[0], check)
        except RowProblem:
            raise ImportAborted(
                f"{self.path}: the first row is neither a header with a user_id column "
                f"nor a row starting with a user id (got {first[0][:40]!r})"
            ) from None
        return _POSITIONAL[: max(len(first), 1)], False


def bounded_lines(handle: IO[bytes]) -> Iterator[bytes | None]:
    """The lines of ``handle``, each read with a bound: a longer one becomes None."""
    while raw := handle.readline(MAX_LINE_BYTES + 1):
        if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
            while (rest := handle.readline(MAX_LINE_BYTES + 1)) and not rest.endswith(b"\n"):
                pass  # skip the remainder of the line without holding it
            yield None
        else:
            yield raw


def _csv_cells(reader: Any, path: Path) -> Iterator[list[str]]:
    """The csv reader's rows; its own errors (a quoted field over its 128 KB limit, a NUL byte)
    end the import as one line naming the line, since the reader cannot resume after them."""
    try:
        yield from reader
    except csv.Error as error:
        raise ImportAborted(f"{path}: line {reader.line_num}: {error}") from None


def open_recipient_file(path: Path) -> RecipientFile:
    """A recipient file ready to read; raises FileNotFoundError if it does not exist and
    ``CredentialFile`` if it is a keystore (its rows would be echoed as errors)."""
    with open(path, "rb") as handle:
        head = handle.read(MAX_LINE_BYTES)
    refuse_credentials(path, head.decode("utf-8", errors="replace"), "users")
    return RecipientFile(path, path.stat().st_size)


def _is_json_lines(path: Path, first_line: str) -> bool:
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson", ".json"):
        return True
    if suffix in (".csv", ".txt"):
        return False
    return first_line.startswith("{")


# --- fields ---------------------------------------------------------------------------------


def _row(line: int, fields: dict[str, Any], check: UserIdCheck) -> RecipientRow | RowError:
    try:
        return RecipientRow(
            line,
            parse_user_id(fields.get("user_id"), check),
            _tags(fields["tags"]) if "tags" in fields else None,
            _time_zone(fields.get("time_zone")),
        )
    except RowProblem as problem:
        return RowError(line, str(problem))


def parse_user_id(value: Any, check: UserIdCheck) -> str:
    """The canonical text of a user id as ``check`` (the provider's) makes it; RowProblem naming
    the field otherwise. A JSON integer is read as its decimal text."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    text = value.strip() if isinstance(value, str) else value
    if text in (None, ""):
        raise RowProblem("user_id: missing")
    # Bounded before the check quotes it: no provider's id is longer.
    if not isinstance(text, str) or len(text) > MAX_USER_ID_CHARS:
        raise RowProblem(f"user_id: {shown(value)} is not a user id")
    try:
        return check(text)
    except ValueError as error:
        raise RowProblem(str(error)) from None


def _tags(value: Any) -> tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, str):
        items: list[Any] = _TAG_SEPARATORS.split(value)
    elif isinstance(value, list):
        items = value
    else:
        raise RowProblem("tags: must be a list of strings or text like 'vip;beta'")
    tags: list[str] = []
    for item in items:
        if not isinstance(item, str):
            raise RowProblem(f"tags: {shown(item)} is not a string")
        tag = item.strip()
        if not tag:
            continue
        if len(tag) > MAX_TAG_CHARS:
            raise RowProblem(f"tags: {tag[:20]!r}… is longer than {MAX_TAG_CHARS} characters")
        if not tag.isprintable():
            raise RowProblem(f"tags: {shown(tag)} contains control characters")
        if tag not in tags:
            tags.append(tag)
    return tuple(tags)


def _time_zone(value: Any) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str):
        raise RowProblem(f"time_zone: {shown(value)} is not a time zone name")
    name = value.strip()
    if not valid_time_zone(name):
        raise RowProblem(
            f"time_zone: unknown time zone {shown(name)} (use names like Europe/Paris)"
        )
    return name


def valid_time_zone(name: str) -> bool:
    return load_zone(name) is not None
