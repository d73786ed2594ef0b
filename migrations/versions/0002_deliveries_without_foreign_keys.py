"""Drop the foreign keys of deliveries.recipient_id and deliveries.batch_id.

The planner writes both from rows it reads and inserts in the same statement; the per-row
checks cost ~60 % of a planning page (bench/proposals/planning-foreign-keys.md).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21 10:37:07.701969
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_constraint(
        op.f("fk_deliveries_recipient_id_recipients"), "deliveries", type_="foreignkey"
    )
    op.drop_constraint(op.f("fk_deliveries_batch_id_batches"), "deliveries", type_="foreignkey")


def downgrade() -> None:
    op.create_foreign_key(
        op.f("fk_deliveries_batch_id_batches"),
        "deliveries",
        "batches",
        ["batch_id"],
        ["id"],
        ondelete="SET NULL",
    )
    op.create_foreign_key(
        op.f("fk_deliveries_recipient_id_recipients"),
        "deliveries",
        "recipients",
        ["recipient_id"],
        ["id"],
        ondelete="CASCADE",
    )
