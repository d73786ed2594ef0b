"""Plain lists of user ids: an audience file (``--audience file:ids.txt``) or
``users unsubscribe --file``.

One id per line (or the first column of a CSV); blank lines, ``#`` comments and a ``user_id``
header are skipped. The list is read whole, so it is bounded: 64 MiB, about 1.7 million ids;
larger audiences are imported as recipients and chosen by tag. A keystore is refused before any
line is parsed (a bad line is quoted in the error).
"""

from __future__ import annotations

from pathlib import Path

from worker.recipient_files import (
    MAX_LINE_BYTES,
    ImportAborted,
    RowProblem,
    UserIdCheck,
    bounded_lines,
    parse_user_id,
)
from worker.secret_files import refuse_credentials

MAX_ID_LIST_BYTES = 64 << 20


def read_user_id_list(path: Path, check: UserIdCheck) -> list[str]:
    """User ids from a plain list, one per line (or the first column of a CSV), as ``check``
    makes them canonical; blank lines, ``#`` comments and a ``user_id`` header are skipped. ``ImportAborted`` names a bad line;
    ``CredentialFile`` refuses a keystore."""
    if path.stat().st_size > MAX_ID_LIST_BYTES:
        raise ImportAborted(
            f"{path}: larger than {MAX_ID_LIST_BYTES >> 20} MiB; import the users and use tags"
        )
    ids = []
    with open(path, "rb") as handle:
        head = handle.read(MAX_LINE_BYTES)
        refuse_credentials(path, head.decode("utf-8", errors="replace"), "audience")
        handle.seek(0)
        for number, raw in enumerate(bounded_lines(handle), start=1):
            if raw is None:
                raise ImportAborted(f"{path}: line {number} is longer than {MAX_LINE_BYTES} bytes")
            try:
                line = raw.decode("utf-8").removeprefix("\ufeff")
            except UnicodeDecodeError:
                raise ImportAborted(f"{path}: line {number} is not UTF-8 text") from None
            value = line.split(",")[0].strip()
            if not value or value.startswith("#") or value.lower() == "user_id":
                continue
            try:
                ids.append(parse_user_id(value, check))
            except RowProblem as problem:
                raise ImportAborted(f"{path}: line {number}: {problem}") from None
    if not ids:
        raise ImportAborted(f"{path}: holds no user ids")
    return ids
