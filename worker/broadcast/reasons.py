"""Why deliveries failed, were skipped or are unknown: each reason's text stored once.

A delivery holds a 4-byte ``reason_id``; the text lives in ``delivery_reasons``, once, however many
deliveries share it (a batch given up after its retries, a cancelled announcement, everyone who
unsubscribed). Readers join it back, so operators see the very text that was recorded.

``reason_id`` is looked up or created in the caller's transaction, with no cache: a reason created
by a transaction that then rolls back is gone with the deliveries that pointed at it, so nothing
ever points at a missing reason, and nothing remembers an id that was never committed. Recording a
reason happens when deliveries fail or are skipped, not on the send path.
"""

from __future__ import annotations

from sqlalchemy import Connection, Text, bindparam, text

# As long as a recorded reason ever was (DESIGN invariant 13: a provider's error can quote anything).
REASON_LIMIT = 500

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


def bounded(reason: str) -> str:
    return reason[:REASON_LIMIT]


def reason_id(conn: Connection, reason: str) -> int:
    """The id of ``reason`` (bounded to ``REASON_LIMIT`` characters), created if it is new."""
    values = {"reason": bounded(reason)}
    found = conn.execute(_GET_OR_ADD, values).scalar_one_or_none()
    if found is None:
        # Created meanwhile by a transaction that has committed since: visible now.
        found = conn.execute(_GET_OR_ADD, values).scalar_one()
    return int(found)
