"""an index on lab_results.listing_id: scoring with memory reads a merchant's recorded results per listing

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-20
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_lab_results_listing_id", "lab_results", ["listing_id"])


def downgrade() -> None:
    op.drop_index("ix_lab_results_listing_id", table_name="lab_results")
