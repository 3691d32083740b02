"""initial store: api keys, plans, plan targets and frames, lab results

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("key_id", sa.String(32), primary_key=True),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_api_keys_role", "api_keys", ["role"])
    op.create_table(
        "plans",
        sa.Column("plan_id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(32), nullable=True),
        sa.Column("budget", sa.Float(), nullable=False),
        sa.Column("epsilon", sa.Float(), nullable=False),
        sa.Column("per_merchant_cap", sa.Integer(), nullable=True),
        sa.Column("seed", sa.Integer(), nullable=False),
        sa.Column("quotas", sa.JSON(), nullable=False),
        sa.Column("model_name", sa.String(200), nullable=False),
        sa.Column("model_version", sa.String(64), nullable=False),
        sa.Column("market_fingerprint", sa.String(64), nullable=False),
        sa.Column("n_candidates", sa.Integer(), nullable=False),
        sa.Column("n_targets", sa.Integer(), nullable=False),
        sa.Column("spent", sa.Float(), nullable=False),
        sa.Column("summary", sa.JSON(), nullable=False),
    )
    op.create_index("ix_plans_created_at", "plans", ["created_at"])
    op.create_table(
        "plan_targets",
        sa.Column("plan_id", sa.String(64), sa.ForeignKey("plans.plan_id", ondelete="CASCADE"), primary_key=True),
        sa.Column("listing_id", sa.String(64), primary_key=True),
        sa.Column("merchant_id", sa.String(64), nullable=False),
        sa.Column("category", sa.String(64), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("arm", sa.String(16), nullable=False),
        sa.Column("cost", sa.Float(), nullable=False),
        sa.Column("p_fail", sa.Float(), nullable=False),
        sa.Column("inclusion_prob", sa.Float(), nullable=False),
        sa.Column("expected_yield", sa.Float(), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
    )
    op.create_table(
        "plan_frames",
        sa.Column("plan_id", sa.String(64), sa.ForeignKey("plans.plan_id", ondelete="CASCADE"), primary_key=True),
        sa.Column("n_rows", sa.Integer(), nullable=False),
        sa.Column("parquet", sa.LargeBinary(), nullable=False),
    )
    op.create_table(
        "lab_results",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("plan_id", sa.String(64), sa.ForeignKey("plans.plan_id", ondelete="CASCADE"), nullable=False),
        sa.Column("listing_id", sa.String(64), nullable=False),
        sa.Column("verdict", sa.String(8), nullable=False),
        sa.Column("failure_types", sa.String(200), nullable=False),
        sa.Column("sampled_date", sa.Date(), nullable=False),
        sa.Column("cost", sa.Float(), nullable=False),
        sa.Column("inclusion_prob", sa.Float(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_by", sa.String(32), nullable=True),
        sa.UniqueConstraint("plan_id", "listing_id", name="uq_lab_results_plan_listing"),
    )
    op.create_index("ix_lab_results_plan_id", "lab_results", ["plan_id"])


def downgrade() -> None:
    op.drop_index("ix_lab_results_plan_id", table_name="lab_results")
    op.drop_table("lab_results")
    op.drop_table("plan_frames")
    op.drop_table("plan_targets")
    op.drop_index("ix_plans_created_at", table_name="plans")
    op.drop_table("plans")
    op.drop_index("ix_api_keys_role", table_name="api_keys")
    op.drop_table("api_keys")
