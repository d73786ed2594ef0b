"""Why deliveries failed, were skipped or are unknown: each reason's text stored once.

A delivery holds a 4-byte ``reason_id``; the text lives in ``delivery_reasons``, once, however many
deliveries share it (a batch given up after its retries, a cancelled announcement, everyone who
unsubscribed). Readers join it back, so operators see the very text that was recorded.

A provider's error can end with what it said about one request or one recipient (``(details: …)``,
``[request …]``, see ``MessagingError.__str__``): a recipient refused alone (Mixin 403, IM REST
10000) gets a text no other delivery has. That tail is the delivery's own ``reason_detail``, kept
in its row (in its announcement's partition, archived and dropped with it); only the part before it
is a ``delivery_reasons`` row, so that table grows with the kinds of reasons, not with the
recipients refused. The recorded text is the shared part followed by the detail, exactly.

``reason_id`` is looked up or created in the caller's transaction, with no cache: a reason created
by a transaction that then rolls back is gone with the deliveries that pointed at it, so nothing
ever points at a missing reason, and nothing remembers an id that was never committed. Recording a
reason happens when deliveries fail or are skipped, not on the send path.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from sqlalchemy import Connection, Text, bindparam, text

# As long as a recorded reason ever was, shared part and detail together (DESIGN invariant 13: a
# provider's error can quote anything).
REASON_LIMIT = 500

# The per-recipient tail of a reason: the server's details (to the end) or the request id last.
# The same in Python and in Postgres: ``(?s)`` lets ``.`` match a newline in both (Postgres's
# default), and ``\Z`` is the very end of the text in both (Python's ``$`` also matches before a
# final newline). Migration 0009 split the texts recorded before it with this pattern.
PER_RECIPIENT_DETAIL = r"(?s) (\(details: .*|\[request [^]]*\])\Z"
_DETAIL = re.compile(PER_RECIPIENT_DETAIL)

# The reason's row if it exists, else a new one. Another transaction that is creating the same text
# makes the insert wait for it and then do nothing: the statement's snapshot, taken before that
# transaction committed, does not see its row either, and returns nothing; the next run does.
_GET_OR_ADD = text(
    """
    WITH found AS (
        SELECT id FROM delivery_reasons WHERE text = :reason
    ), added AS (
        INSERT INTO delivery_reasons (text)
        SELECT :reason WHERE NOT EXISTS (SELECT 1 FROM found)
        ON CONFLICT (text) DO NOTHING
        RETURNING id
    )
    SELECT id FROM found UNION ALL SELECT id FROM added
    """
).bindparams(bindparam("reason", type_=Text))


class StoredReason(NamedTuple):
    """What a delivery records of a reason: the shared part's id, and its own detail if any."""

    id: int
    detail: str | None


def split(reason: str) -> tuple[str, str | None]:
    """``reason``, bounded to ``REASON_LIMIT`` characters, as its part shared with other
    deliveries and its per-recipient detail (``None`` when it has none); the two, joined, are the
    bounded text. The bound comes first: a detail it cuts short is no detail (its ``]`` is gone),
    as when the bounded text was kept whole."""
    bounded = reason[:REASON_LIMIT]
    found = _DETAIL.search(bounded)
    if found is None:
        return bounded, None
    return bounded[: found.start()], bounded[found.start() :]


def store(conn: Connection, reason: str) -> StoredReason:
    """The id of ``reason``'s shared part (created if it is new) and its detail."""
    shared, detail = split(reason)
    return StoredReason(_shared_id(conn, shared), detail)


def _shared_id(conn: Connection, shared: str) -> int:
    values = {"reason": shared}
    found = conn.execute(_GET_OR_ADD, values).scalar_one_or_none()
    if found is None:
        # Created meanwhile by a transaction that has committed since: visible now.
        found = conn.execute(_GET_OR_ADD, values).scalar_one()
    return int(found)
