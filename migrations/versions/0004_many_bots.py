"""Many bots: bots become rows with a provider, quota and credentials reference; recipients and
announcements belong to a bot.

An existing deployment's recipients and announcements move to the ``default`` bot, the one whose
key is ``BLAZECAST_KEYSTORE`` (``credentials`` NULL), created here only when there is something to
carry over; a halt recorded for the old single bot carries over too. Time: one UPDATE of each table
(about 3 s per million recipients on this machine's embedded engine).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 01:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.rename_table("bots", "bots_single")
    op.execute("ALTER TABLE bots_single RENAME CONSTRAINT pk_bots TO pk_bots_single")
    provider = postgresql.ENUM("mixin", "imrest", name="bot_provider")
    provider.create(op.get_bind())
    op.create_table(
        "bots",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column(
            "provider", postgresql.ENUM(name="bot_provider", create_type=False), nullable=False
        ),
        sa.Column("credentials", sa.String(length=1000), nullable=True),
        sa.Column("account_id", sa.String(length=64), nullable=True),
        sa.Column("quota_per_minute", sa.Integer(), nullable=True),
        sa.Column("transport", sa.String(length=16), nullable=True),
        sa.Column(
            "options",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("halted_reason", sa.Text(), nullable=True),
        sa.Column("halted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "quota_per_minute IS NULL OR quota_per_minute >= 2",
            name=op.f("ck_bots_quota_positive"),
        ),
        sa.CheckConstraint(
            "credentials IS NULL OR credentials LIKE 'file:%' OR credentials LIKE 'env:%'",
            name=op.f("ck_bots_credentials_reference"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bots")),
        sa.UniqueConstraint("account_id", name=op.f("uq_bots_account_id")),
        sa.UniqueConstraint("name", name=op.f("uq_bots_name")),
    )
    # The default bot, when there is anything that belongs to it.
    op.execute(
        """
        INSERT INTO bots (name, provider, account_id, halted_reason, halted_at)
        SELECT 'default', 'mixin',
               (SELECT id::text FROM bots_single ORDER BY halted_at DESC NULLS LAST LIMIT 1),
               (SELECT halted_reason FROM bots_single ORDER BY halted_at DESC NULLS LAST LIMIT 1),
               (SELECT max(halted_at) FROM bots_single)
        WHERE EXISTS (SELECT 1 FROM recipients) OR EXISTS (SELECT 1 FROM announcements)
           OR EXISTS (SELECT 1 FROM bots_single)
        """
    )
    op.drop_table("bots_single")

    for table in ("recipients", "announcements"):
        op.add_column(table, sa.Column("bot_id", sa.Integer(), nullable=True))
        op.execute(f"UPDATE {table} SET bot_id = (SELECT id FROM bots WHERE name = 'default')")  # noqa: S608 (fixed names)
        op.alter_column(table, "bot_id", nullable=False)
        op.create_foreign_key(op.f(f"fk_{table}_bot_id_bots"), table, "bots", ["bot_id"], ["id"])
    op.create_index(op.f("ix_announcements_bot_id"), "announcements", ["bot_id"])

    op.drop_constraint("uq_recipients_user_id", "recipients", type_="unique")
    op.create_unique_constraint("uq_recipients_bot_user", "recipients", ["bot_id", "user_id"])
    op.drop_index("ix_recipients_active_id", table_name="recipients")
    op.create_index(
        "ix_recipients_active_id",
        "recipients",
        ["bot_id", "id"],
        postgresql_where=sa.text("status = 'active'"),
    )


def downgrade() -> None:
    raise NotImplementedError("0004 carries rows to bots; going back would merge bots' audiences")
