"""Leave room in deliveries' pages so that sent/DELIVERED/READ updates are HOT.

A delivery is updated up to three times after it is planned (sent, DELIVERED, READ) and none of
those columns is indexed, so each update can stay on its page without touching the five indexes,
if the page has room; the planner fills pages completely (fillfactor 100) and every update went
elsewhere with five index insertions (bench/proposals/deliveries-fillfactor.md). Applies to pages
written from now on.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21 12:30:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("ALTER TABLE deliveries SET (fillfactor = 50)")


def downgrade() -> None:
    op.execute("ALTER TABLE deliveries RESET (fillfactor)")
