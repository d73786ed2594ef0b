"""Partition deliveries by announcement; archive columns; an index for the metrics' retry count.

Every existing delivery moves into its announcement's partition (one ``INSERT … SELECT`` per
announcement, indexes built after the rows are in, then ``ATTACH``); the row counts before and
after must agree or the migration fails and its transaction rolls back, leaving the old table as it
was. The time it took, per million rows, is logged (docs/decisions/
2026-12-02-deliveries-partitioned-per-announcement.md has the measured figure).

The new table is created ``LIKE`` the old one, so it keeps whatever columns and enum values the
migrations before this one gave it (``delivery_state`` may have gained a value).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 04:40:00
"""

import logging
import time
import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

log = logging.getLogger("alembic.runtime.migration")


def _partition_ddl(announcement_id: uuid.UUID) -> tuple[list[str], list[str]]:
    """Frozen copy of worker/broadcast/partitions.partition_ddl at this revision, split into the
    table and the indexes + attach, so that a partition's indexes are built after its rows."""
    key = announcement_id.hex
    table = f"deliveries_{key}"
    short = f"d{key}"
    create = [
        f"CREATE TABLE {table} (LIKE deliveries INCLUDING DEFAULTS) WITH (fillfactor = 50)",
    ]
    finish = [
        f"CREATE UNIQUE INDEX {short}_message ON {table} (message_id)",
        f"CREATE UNIQUE INDEX {short}_recipient ON {table} (recipient_id)",
        f"CREATE INDEX {short}_batch ON {table} (batch_id)",
        f"ALTER TABLE deliveries ATTACH PARTITION {table} FOR VALUES IN ('{key}')",
    ]
    return create, finish


def upgrade() -> None:
    conn = op.get_bind()
    op.execute("ALTER TABLE deliveries RENAME TO deliveries_legacy")
    op.execute("ALTER TABLE deliveries_legacy RENAME CONSTRAINT pk_deliveries TO pk_deliveries_old")
    op.execute(
        "CREATE TABLE deliveries (LIKE deliveries_legacy INCLUDING DEFAULTS) "
        "PARTITION BY LIST (announcement_id)"
    )
    op.execute(
        "ALTER TABLE deliveries ADD CONSTRAINT pk_deliveries PRIMARY KEY (id, announcement_id)"
    )
    op.execute("ALTER SEQUENCE deliveries_id_seq OWNED BY deliveries.id")

    columns = ", ".join(
        f'"{name}"'
        for (name,) in conn.execute(
            sa.text(
                "SELECT attname FROM pg_attribute WHERE attrelid = 'deliveries_legacy'::regclass "
                "AND attnum > 0 AND NOT attisdropped ORDER BY attnum"
            )
        )
    )
    before = conn.execute(sa.text("SELECT count(*) FROM deliveries_legacy")).scalar_one()
    started = time.monotonic()
    announcements = conn.execute(
        sa.text(
            "SELECT a.id FROM announcements a WHERE EXISTS "
            "(SELECT 1 FROM deliveries_legacy d WHERE d.announcement_id = a.id) ORDER BY a.id"
        )
    ).scalars()
    for announcement_id in list(announcements):
        create, finish = _partition_ddl(uuid.UUID(str(announcement_id)))
        for statement in create:
            op.execute(statement)
        # Names from the catalog and a parsed UUID, never from input text.
        table = f"deliveries_{uuid.UUID(str(announcement_id)).hex}"
        copy = f"INSERT INTO {table} ({columns}) SELECT {columns} FROM deliveries_legacy "  # noqa: S608
        copy += "WHERE announcement_id = :a ORDER BY id"
        conn.execute(
            sa.text(copy),
            {"a": announcement_id},
        )
        for statement in finish:
            op.execute(statement)
    after = conn.execute(sa.text("SELECT count(*) FROM deliveries")).scalar_one()
    if after != before:
        raise RuntimeError(f"0008: {before} deliveries before, {after} after; nothing changed")
    elapsed = time.monotonic() - started
    log.info(
        "0008: moved %d deliveries in %.1f s (%.1f s per million rows)",
        after,
        elapsed,
        elapsed / max(after, 1) * 1_000_000,
    )
    op.execute("DROP TABLE deliveries_legacy")

    op.add_column(
        "announcements", sa.Column("archived_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column("announcements", sa.Column("archive_path", sa.Text(), nullable=True))
    op.create_index(
        "ix_batches_retried",
        "batches",
        ["attempts"],
        unique=False,
        postgresql_where=sa.text("attempts > 1"),
    )


def downgrade() -> None:
    conn = op.get_bind()
    op.drop_index(
        "ix_batches_retried", table_name="batches", postgresql_where=sa.text("attempts > 1")
    )
    op.drop_column("announcements", "archive_path")
    op.drop_column("announcements", "archived_at")
    op.execute("CREATE TABLE deliveries_flat (LIKE deliveries INCLUDING DEFAULTS)")
    op.execute("INSERT INTO deliveries_flat SELECT * FROM deliveries ORDER BY id")
    op.execute("ALTER SEQUENCE deliveries_id_seq OWNED BY deliveries_flat.id")
    partitions = conn.execute(
        sa.text(
            "SELECT inhrelid::regclass::text FROM pg_inherits WHERE inhparent = 'deliveries'::regclass"
        )
    ).scalars()
    for table in list(partitions):
        op.execute(f"DROP TABLE {table}")
    op.execute("DROP TABLE deliveries")
    op.execute("ALTER TABLE deliveries_flat RENAME TO deliveries")
    op.execute("ALTER TABLE deliveries SET (fillfactor = 50)")
    op.create_primary_key("pk_deliveries", "deliveries", ["id"])
    op.create_unique_constraint(
        "uq_deliveries_announcement_id", "deliveries", ["announcement_id", "recipient_id"]
    )
    op.create_unique_constraint("uq_deliveries_message_id", "deliveries", ["message_id"])
    op.create_index("ix_deliveries_batch_id", "deliveries", ["batch_id"], unique=False)
    op.create_index("ix_deliveries_recipient_id", "deliveries", ["recipient_id"], unique=False)
    op.create_foreign_key(
        "fk_deliveries_announcement_id_announcements",
        "deliveries",
        "announcements",
        ["announcement_id"],
        ["id"],
        ondelete="CASCADE",
    )
