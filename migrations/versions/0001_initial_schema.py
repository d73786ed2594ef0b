"""Initial schema: recipients, announcements, audience members, batches, deliveries, bots.

Revision ID: 0001
Revises:
Create Date: 2026-11-21 09:35:27.659446
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "announcements",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=200), nullable=True),
        sa.Column("title", sa.String(length=200), server_default="", nullable=False),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("content", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("data_base64", sa.Text(), nullable=True),
        sa.Column(
            "audience_kind",
            sa.Enum("all", "tags", "list", "recall", name="audience_kind"),
            nullable=False,
        ),
        sa.Column("audience_tags", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("recall_of", sa.Uuid(), nullable=True),
        sa.Column("is_test", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "draft",
                "scheduled",
                "sending",
                "paused",
                "completed",
                "cancelled",
                "failed",
                name="announcement_status",
            ),
            server_default="draft",
            nullable=False,
        ),
        sa.Column("status_reason", sa.Text(), nullable=True),
        sa.Column("scheduled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("time_zone", sa.String(length=64), server_default="UTC", nullable=False),
        sa.Column("priority", sa.SmallInteger(), server_default="0", nullable=False),
        sa.Column("rate_per_minute", sa.Integer(), nullable=True),
        sa.Column("plan_cursor", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("planned", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("batches_planned", sa.Integer(), server_default="0", nullable=False),
        sa.Column("plan_lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("plan_holder", sa.String(length=200), nullable=True),
        sa.Column("total", sa.Integer(), server_default="0", nullable=False),
        sa.Column("sent", sa.Integer(), server_default="0", nullable=False),
        sa.Column("delivered", sa.Integer(), server_default="0", nullable=False),
        sa.Column("read", sa.Integer(), server_default="0", nullable=False),
        sa.Column("failed", sa.Integer(), server_default="0", nullable=False),
        sa.Column("skipped", sa.Integer(), server_default="0", nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("first_sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "rate_per_minute IS NULL OR rate_per_minute > 0",
            name=op.f("ck_announcements_rate_positive"),
        ),
        sa.ForeignKeyConstraint(
            ["recall_of"],
            ["announcements.id"],
            name=op.f("fk_announcements_recall_of_announcements"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_announcements")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_announcements_idempotency_key")),
    )
    op.create_index(
        "ix_announcements_due",
        "announcements",
        ["scheduled_at"],
        unique=False,
        postgresql_where=sa.text("status = 'scheduled'"),
    )
    op.create_index("ix_announcements_status", "announcements", ["status"], unique=False)
    op.create_table(
        "bots",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("halted_reason", sa.Text(), nullable=True),
        sa.Column("halted_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bots")),
    )
    op.create_table(
        "recipients",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("conversation_id", sa.Uuid(), nullable=True),
        sa.Column(
            "status",
            sa.Enum("active", "unsubscribed", "unreachable", name="recipient_status"),
            server_default="active",
            nullable=False,
        ),
        sa.Column(
            "tags",
            postgresql.ARRAY(sa.String(length=64)),
            server_default=sa.text("'{}'::varchar[]"),
            nullable=False,
        ),
        sa.Column("time_zone", sa.String(length=64), nullable=True),
        sa.Column("status_reason", sa.Text(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recipients")),
        sa.UniqueConstraint("user_id", name=op.f("uq_recipients_user_id")),
    )
    op.create_index(
        "ix_recipients_active_id",
        "recipients",
        ["id"],
        unique=False,
        postgresql_where=sa.text("status = 'active'"),
    )
    op.create_index(
        "ix_recipients_tags", "recipients", ["tags"], unique=False, postgresql_using="gin"
    )
    op.create_table(
        "audience_members",
        sa.Column("announcement_id", sa.Uuid(), nullable=False),
        sa.Column("recipient_id", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["announcement_id"],
            ["announcements.id"],
            name=op.f("fk_audience_members_announcement_id_announcements"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["recipient_id"],
            ["recipients.id"],
            name=op.f("fk_audience_members_recipient_id_recipients"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "announcement_id", "recipient_id", name=op.f("pk_audience_members")
        ),
    )
    op.create_table(
        "batches",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("announcement_id", sa.Uuid(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("size", sa.SmallInteger(), nullable=False),
        sa.Column(
            "state",
            sa.Enum(
                "pending",
                "queued",
                "leased",
                "retry",
                "done",
                "failed",
                "cancelled",
                name="batch_state",
            ),
            server_default="pending",
            nullable=False,
        ),
        sa.Column("attempts", sa.SmallInteger(), server_default="0", nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("leased_by", sa.String(length=200), nullable=True),
        sa.Column("enqueued_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["announcement_id"],
            ["announcements.id"],
            name=op.f("fk_batches_announcement_id_announcements"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_batches")),
        sa.UniqueConstraint("announcement_id", "seq", name="uq_batches_announcement_seq"),
    )
    op.create_index(
        "ix_batches_open",
        "batches",
        ["state", "announcement_id", "seq"],
        unique=False,
        postgresql_where=sa.text("state IN ('pending', 'queued', 'leased', 'retry')"),
    )
    op.create_table(
        "deliveries",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("announcement_id", sa.Uuid(), nullable=False),
        sa.Column("recipient_id", sa.BigInteger(), nullable=False),
        sa.Column("message_id", sa.Uuid(), nullable=False),
        sa.Column("batch_id", sa.BigInteger(), nullable=True),
        sa.Column(
            "state",
            sa.Enum(
                "pending", "sent", "delivered", "read", "failed", "skipped", name="delivery_state"
            ),
            server_default="pending",
            nullable=False,
        ),
        sa.Column("attempts", sa.SmallInteger(), server_default="0", nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("failed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["announcement_id"],
            ["announcements.id"],
            name=op.f("fk_deliveries_announcement_id_announcements"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["batch_id"],
            ["batches.id"],
            name=op.f("fk_deliveries_batch_id_batches"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["recipient_id"],
            ["recipients.id"],
            name=op.f("fk_deliveries_recipient_id_recipients"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deliveries")),
        sa.UniqueConstraint(
            "announcement_id", "recipient_id", name=op.f("uq_deliveries_announcement_id")
        ),
        sa.UniqueConstraint("message_id", name=op.f("uq_deliveries_message_id")),
    )
    op.create_index("ix_deliveries_batch_id", "deliveries", ["batch_id"], unique=False)
    op.create_index("ix_deliveries_recipient_id", "deliveries", ["recipient_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_deliveries_recipient_id", table_name="deliveries")
    op.drop_index("ix_deliveries_batch_id", table_name="deliveries")
    op.drop_table("deliveries")
    op.drop_index(
        "ix_batches_open",
        table_name="batches",
        postgresql_where=sa.text("state IN ('pending', 'queued', 'leased', 'retry')"),
    )
    op.drop_table("batches")
    op.drop_table("audience_members")
    op.drop_index("ix_recipients_tags", table_name="recipients", postgresql_using="gin")
    op.drop_index(
        "ix_recipients_active_id",
        table_name="recipients",
        postgresql_where=sa.text("status = 'active'"),
    )
    op.drop_table("recipients")
    op.drop_table("bots")
    op.drop_index("ix_announcements_status", table_name="announcements")
    op.drop_index(
        "ix_announcements_due",
        table_name="announcements",
        postgresql_where=sa.text("status = 'scheduled'"),
    )
    op.drop_table("announcements")
    for enum_name in (
        "delivery_state",
        "batch_state",
        "recipient_status",
        "announcement_status",
        "audience_kind",
    ):
        sa.Enum(name=enum_name).drop(op.get_bind(), checkfirst=True)
