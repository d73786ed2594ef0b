"""Reasons stored once: ``delivery_reasons`` (id, text unique), ``deliveries.reason_id`` and
``deliveries.reason_detail``.

A failed, skipped or unknown delivery kept its reason's whole text in its own row (``last_error``):
a batch given up after its retries wrote the same ~100 characters into each of its 100 rows, and
growing a row past the room its page had left made that update non-HOT, a new entry in every index.
A 4-byte reference does neither (docs/decisions/2026-12-02-delivery-reasons-stored-once.md).

A text that ends with what the provider said of one recipient or request (`` (details: …)``,
`` [request …]``) is split there, as ``worker.broadcast.reasons.split`` splits the reasons recorded
after it: the part before is shared, the tail is the delivery's own ``reason_detail``. Every
distinct shared part becomes one ``delivery_reasons`` row, and every delivery that had a text points
at the row of its shared part, keeping its tail; a row is rewritten only if the shared part followed
by the tail is exactly its text. The number of rows so rewritten must equal the number of
deliveries that had a text, and none may be left with one, or the migration fails and its
transaction rolls back, changing nothing. Those rows' new versions no longer hold the whole text;
the rows without a reason (most of them) are not touched. The time it took, per million deliveries,
is logged.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 09:10:00
"""

import logging
import time
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

log = logging.getLogger("alembic.runtime.migration")

# ``worker.broadcast.reasons.PER_RECIPIENT_DETAIL`` as this revision split with it (a migration
# keeps what it did, whatever the code later becomes); Postgres reads it as Python does.
_PER_RECIPIENT_DETAIL = r"(?s) (\(details: .*|\[request [^]]*\])\Z"


def upgrade() -> None:
    conn = op.get_bind()
    op.create_table(
        "delivery_reasons",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_delivery_reasons")),
        sa.UniqueConstraint("text", name=op.f("uq_delivery_reasons_text")),
    )
    # On the partitioned table: every partition gets the column, with no rewrite (no default).
    op.add_column("deliveries", sa.Column("reason_id", sa.Integer(), nullable=True))
    op.add_column("deliveries", sa.Column("reason_detail", sa.Text(), nullable=True))

    started = time.monotonic()
    total = conn.execute(sa.text("SELECT count(*) FROM deliveries")).scalar_one()
    with_text = conn.execute(
        sa.text("SELECT count(*) FROM deliveries WHERE last_error IS NOT NULL")
    ).scalar_one()
    detail = {"detail": _PER_RECIPIENT_DETAIL}
    conn.execute(
        sa.text(
            "INSERT INTO delivery_reasons (text) "
            "SELECT DISTINCT regexp_replace(last_error, :detail, '') FROM deliveries "
            "WHERE last_error IS NOT NULL ORDER BY 1"
        ),
        detail,
    )
    # The tail is what follows the shared part (NULL when nothing does); the last condition holds
    # back any row whose text the two would not give back exactly.
    moved = conn.execute(
        sa.text(
            "UPDATE deliveries d SET reason_id = r.id, "
            "reason_detail = NULLIF(substr(d.last_error, char_length(r.text) + 1), ''), "
            "last_error = NULL "
            "FROM delivery_reasons r WHERE d.last_error IS NOT NULL "
            "AND r.text = regexp_replace(d.last_error, :detail, '') "
            "AND r.text || substr(d.last_error, char_length(r.text) + 1) = d.last_error"
        ),
        detail,
    ).rowcount
    left = conn.execute(
        sa.text("SELECT count(*) FROM deliveries WHERE last_error IS NOT NULL")
    ).scalar_one()
    if moved != with_text or left:
        raise RuntimeError(
            f"0009: {with_text} deliveries had a reason, {moved} were given one and {left} kept "
            "their text; nothing changed"
        )
    elapsed = time.monotonic() - started
    log.info(
        "0009: %d reasons of %d deliveries (%d in all) stored once in %.1f s "
        "(%.1f s per million deliveries)",
        conn.execute(sa.text("SELECT count(*) FROM delivery_reasons")).scalar_one(),
        with_text,
        total,
        elapsed,
        elapsed / max(total, 1) * 1_000_000,
    )
    op.drop_column("deliveries", "last_error")


def downgrade() -> None:
    op.add_column("deliveries", sa.Column("last_error", sa.Text(), nullable=True))
    op.execute(
        "UPDATE deliveries d SET last_error = r.text || coalesce(d.reason_detail, '') "
        "FROM delivery_reasons r WHERE r.id = d.reason_id"
    )
    op.drop_column("deliveries", "reason_detail")
    op.drop_column("deliveries", "reason_id")
    op.drop_table("delivery_reasons")
