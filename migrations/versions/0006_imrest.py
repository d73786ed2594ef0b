"""IM REST: recipients' ids as text, an ``unknown`` delivery fate, the batch's first attempt,
and the status polls.

- ``recipients.user_id`` becomes text: a Mixin UUID keeps its canonical lowercase form (what
  ``uuid::text`` gives, so message ids computed from it do not change); IM REST ids are decimal
  int64. The column is rewritten with its unique index.
- ``delivery_state`` gains ``unknown`` and announcements an ``unknown`` counter: a batch whose
  request may or may not have been executed, past the provider's retry horizon.
- ``batches.first_attempt_at``: when the batch's first request went out (the retry horizon's
  start); ``batches.split_size``: how far the search for a refused recipient has split the batch,
  kept across leases.
- ``status_polls``: the IM REST recipients whose status is polled.

Time: the rewrite of ``recipients`` (see ``tests/integration/test_migrations.py``).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 04:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.alter_column(
        "recipients",
        "user_id",
        type_=sa.String(length=36),
        existing_type=sa.Uuid(),
        existing_nullable=False,
        postgresql_using="user_id::text",
    )
    # A new enum value cannot be used in the transaction that adds it; nothing here uses it.
    with op.get_context().autocommit_block():
        op.execute("ALTER TYPE delivery_state ADD VALUE IF NOT EXISTS 'unknown'")
    op.add_column(
        "announcements",
        sa.Column("unknown", sa.Integer(), server_default="0", nullable=False),
    )
    op.add_column(
        "batches", sa.Column("first_attempt_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column("batches", sa.Column("split_size", sa.SmallInteger(), nullable=True))
    op.create_table(
        "status_polls",
        sa.Column("delivery_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("announcement_id", sa.Uuid(), nullable=False),
        sa.Column("bot_id", sa.Integer(), nullable=False),
        sa.Column("next_poll_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("polls", sa.SmallInteger(), server_default="0", nullable=False),
        sa.Column("status", sa.String(length=16), nullable=True),
        sa.Column("msg_id", sa.BigInteger(), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["announcement_id"],
            ["announcements.id"],
            name=op.f("fk_status_polls_announcement_id_announcements"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(["bot_id"], ["bots.id"], name=op.f("fk_status_polls_bot_id_bots")),
        sa.PrimaryKeyConstraint("delivery_id", name=op.f("pk_status_polls")),
    )
    op.create_index(op.f("ix_status_polls_announcement_id"), "status_polls", ["announcement_id"])
    op.create_index(
        "ix_status_polls_due",
        "status_polls",
        ["bot_id", "next_poll_at"],
        postgresql_where=sa.text("next_poll_at IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_status_polls_due", table_name="status_polls")
    op.drop_index(op.f("ix_status_polls_announcement_id"), table_name="status_polls")
    op.drop_table("status_polls")
    op.drop_column("batches", "split_size")
    op.drop_column("batches", "first_attempt_at")
    op.drop_column("announcements", "unknown")
    # Postgres cannot drop an enum value; ``unknown`` deliveries become failed. IM REST
    # recipients cannot go back to a UUID column: the downgrade stops while any exist.
    op.execute("UPDATE deliveries SET state = 'failed' WHERE state = 'unknown'")
    op.alter_column(
        "recipients",
        "user_id",
        type_=sa.Uuid(),
        existing_type=sa.String(length=36),
        existing_nullable=False,
        postgresql_using="user_id::uuid",
    )
