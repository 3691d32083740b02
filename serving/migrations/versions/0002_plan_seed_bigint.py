"""plan seeds as 64-bit integers: the API accepts seeds up to 2^63 - 1, PostgreSQL's INTEGER stops at 2^31 - 1

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # batch mode: SQLite cannot ALTER a column's type in place (its INTEGER is 64-bit already)
    with op.batch_alter_table("plans") as batch:
        batch.alter_column("seed", existing_type=sa.Integer(), type_=sa.BigInteger(), existing_nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("plans") as batch:
        batch.alter_column("seed", existing_type=sa.BigInteger(), type_=sa.Integer(), existing_nullable=False)
