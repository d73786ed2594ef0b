"""One ``deliveries`` partition per announcement: created when planning starts, dropped on archive.

Every hot index of a delivery is then the index of its own announcement's partition, so its size is
that of one audience, not of all history: the planner's random ``message_id`` inserts stay in
shared buffers, receipts probe the partitions of the announcements still receiving receipts, and
per-announcement reads (report, show, recount) scan one partition. Why per announcement and not per
week: docs/decisions/2026-12-02-deliveries-partitioned-per-announcement.md.

The partition's indexes are its own, not the parent's: the parent has only the primary key
(``id``, ``announcement_id``), which Postgres requires to contain the partition key; the unique
indexes on ``message_id`` and ``recipient_id`` need not repeat the announcement (constant in the
partition), which saves 16 bytes per row in each.

The table is created alone and then attached: ``ATTACH PARTITION`` takes only a SHARE UPDATE
EXCLUSIVE lock on ``deliveries``, so senders and receipt recorders of other announcements never wait
for it (``CREATE TABLE … PARTITION OF`` would lock them all out).
"""

from __future__ import annotations

import uuid

from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

PREFIX = "deliveries_"
# Room on every page for the sent/DELIVERED/READ updates to stay there (HOT, migration 0003).
FILLFACTOR = 50


def partition_name(announcement_id: uuid.UUID) -> str:
    """``deliveries_<32 hex digits>``: derived from the UUID, so never from outside text."""
    return PREFIX + uuid.UUID(str(announcement_id)).hex


def partition_ddl(announcement_id: uuid.UUID) -> list[str]:
    """The statements that create and attach an announcement's partition with its indexes.

    Names and the literal are built from a parsed UUID (hex digits only), never from input text.
    """
    table = partition_name(announcement_id)
    key = uuid.UUID(str(announcement_id)).hex
    short = "d" + key  # index names stay under Postgres' 63 characters
    return [
        f"CREATE TABLE {table} (LIKE deliveries INCLUDING DEFAULTS) "
        f"WITH (fillfactor = {FILLFACTOR})",
        f"CREATE UNIQUE INDEX {short}_message ON {table} (message_id)",
        f"CREATE UNIQUE INDEX {short}_recipient ON {table} (recipient_id)",
        f"CREATE INDEX {short}_batch ON {table} (batch_id)",
        # Batches hold up to 100 deliveries: an ANALYZE of the first page must not take its few
        # batch ids for all (analyze_first_page).
        f"ALTER TABLE {table} ALTER COLUMN batch_id SET (n_distinct = -0.01)",
        # No index on ``state``, not even a partial one for failures_by_reason: an indexed column
        # (or one in an index's predicate) makes every sent/DELIVERED/READ update non-HOT, which
        # would cost the send path and receipts an entry in every index. That read scans one
        # announcement's partition instead.
        f"ALTER TABLE deliveries ATTACH PARTITION {table} FOR VALUES IN ('{key}')",
    ]


def exists(conn: Connection | Session, announcement_id: uuid.UUID) -> bool:
    return bool(
        conn.execute(
            text("SELECT to_regclass(:name) IS NOT NULL"),
            {"name": partition_name(announcement_id)},
        ).scalar_one()
    )


def ensure_partition(conn: Connection | Session, announcement_id: uuid.UUID) -> bool:
    """Create the announcement's partition unless it exists; True if it was created.

    Only the holder of the plan lease calls this, so two planners never race to create it.
    """
    if exists(conn, announcement_id):
        return False
    for statement in partition_ddl(announcement_id):
        conn.execute(text(statement))
    return True


def analyze_first_page(conn: Connection | Session, announcement_id: uuid.UUID) -> None:
    """Give the planner statistics of a new partition from its first page on.

    Until autovacuum first analyzes a partition (a minute or more after planning began), the
    planner guesses: ``announcement_id = …`` keeps 0.5 % of the rows, so every per-announcement
    read ANDed in the whole primary key index (the metrics' receipt lag read 1,000,000 index
    entries to find 2,000 rows, on every scrape). Statistics of the key alone are no cure: the
    receipts' UPDATE then took every row as its own and scanned the partition (half the
    receipts per second). A first page's sample is right about the key and the unique ids; its
    batch ids would pass for all there are, which the partition's DDL settles (one per 100 rows).
    The rest (states, times) is corrected by autovacuum's first analyze, soon after.
    """
    conn.execute(text(f"ANALYZE {partition_name(announcement_id)}"))


def drop_partition(conn: Connection | Session, announcement_id: uuid.UUID) -> bool:
    """Detach and drop the announcement's partition (archive); True if there was one."""
    if not exists(conn, announcement_id):
        return False
    table = partition_name(announcement_id)
    conn.execute(text(f"ALTER TABLE deliveries DETACH PARTITION {table}"))
    conn.execute(text(f"DROP TABLE {table}"))
    return True
