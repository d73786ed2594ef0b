"""Status polls waiting for their delivery to be sent: a partial index for the poll tick.

The poll tick makes the rows of sent deliveries due every second; without this index it would
scan every poll row ever made.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 05:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_status_polls_waiting",
        "status_polls",
        ["bot_id"],
        postgresql_where=sa.text("status IS NULL AND next_poll_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_status_polls_waiting", table_name="status_polls")
