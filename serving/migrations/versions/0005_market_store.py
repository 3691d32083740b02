"""the market store: merchants, listings, reviews, lab results and removals with their history, and the
identity registry (linking keys and identity links)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-14
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _stamp() -> list[sa.Column[int]]:
    return [sa.Column("revision", sa.Integer(), nullable=False)]


def upgrade() -> None:
    op.create_table(
        "market_revisions",
        sa.Column("revision", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("actor", sa.String(200), nullable=True),
        sa.Column("counts", sa.JSON(), nullable=False),
    )
    op.create_table(
        "market_merchants",
        sa.Column("merchant_id", sa.String(64), primary_key=True),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("platform", sa.String(64), nullable=False),
        sa.Column("shop_name", sa.String(200), nullable=False),
        sa.Column("credit_code", sa.String(18), nullable=True),
        sa.Column("phone", sa.String(32), nullable=True),
        sa.Column("region", sa.String(64), nullable=False),
        sa.Column("opened_date", sa.Date(), nullable=False),
        sa.Column("registry_status", sa.String(32), nullable=False),
        sa.Column("removals_elsewhere", sa.Integer(), nullable=False),
        sa.Column("row_hash", sa.String(32), nullable=False),
        *_stamp(),
    )
    op.create_table(
        "market_listings",
        sa.Column("listing_id", sa.String(64), primary_key=True),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("merchant_id", sa.String(64), nullable=False),
        sa.Column("platform", sa.String(64), nullable=False),
        sa.Column("category", sa.String(64), nullable=False),
        sa.Column("brand", sa.String(100), nullable=False),
        sa.Column("title", sa.String(500), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("price", sa.Float(), nullable=False),
        sa.Column("sales", sa.BigInteger(), nullable=False),
        sa.Column("ccc_cert", sa.Text(), nullable=True),
        sa.Column("listed_date", sa.Date(), nullable=False),
        sa.Column("row_hash", sa.String(32), nullable=False),
        *_stamp(),
    )
    op.create_index("ix_market_listings_merchant_id", "market_listings", ["merchant_id"])
    op.create_table(
        "market_reviews",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("review_key", sa.String(40), nullable=False),
        sa.Column("listing_id", sa.String(64), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("rating", sa.Integer(), nullable=False),
        sa.Column("review_date", sa.Date(), nullable=False),
        *_stamp(),
        sa.UniqueConstraint("review_key", name="uq_market_reviews_key"),
    )
    op.create_index("ix_market_reviews_listing_id", "market_reviews", ["listing_id"])
    op.create_table(
        "market_lab_results",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("plan_id", sa.String(64), nullable=False),
        sa.Column("listing_id", sa.String(64), nullable=False),
        sa.Column("sampled_date", sa.Date(), nullable=False),
        sa.Column("verdict", sa.String(8), nullable=False),
        sa.Column("failure_types", sa.Text(), nullable=False),
        sa.Column("cost", sa.Float(), nullable=False),
        sa.Column("inclusion_prob", sa.Float(), nullable=True),
        sa.Column("row_hash", sa.String(32), nullable=False),
        *_stamp(),
        sa.UniqueConstraint("plan_id", "listing_id", name="uq_market_lab_results_plan_listing"),
    )
    op.create_index("ix_market_lab_results_listing_id", "market_lab_results", ["listing_id"])
    op.create_table(
        "market_removals",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("removal_key", sa.String(40), nullable=False),
        sa.Column("merchant_id", sa.String(64), nullable=False),
        sa.Column("platform", sa.String(64), nullable=False),
        sa.Column("removed_date", sa.Date(), nullable=False),
        sa.Column("reason", sa.String(500), nullable=False),
        *_stamp(),
        sa.UniqueConstraint("removal_key", name="uq_market_removals_key"),
    )
    op.create_index("ix_market_removals_merchant_id", "market_removals", ["merchant_id"])
    op.create_table(
        "registry_status_history",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("merchant_id", sa.String(64), nullable=False),
        sa.Column("registry_status", sa.String(32), nullable=False),
        *_stamp(),
        sa.Column("observed_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_registry_status_history_merchant_id", "registry_status_history", ["merchant_id"])
    op.create_table(
        "record_history",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("table_name", sa.String(32), nullable=False),
        sa.Column("record_key", sa.String(200), nullable=False),
        *_stamp(),
        sa.Column("replaced_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
    )
    op.create_index("ix_record_history_record", "record_history", ["table_name", "record_key"])
    op.create_table(
        "merchant_keys",
        sa.Column("merchant_id", sa.String(64), primary_key=True),
        sa.Column("kind", sa.String(8), primary_key=True),
        sa.Column("value", sa.Text(), primary_key=True),
    )
    op.create_index("ix_merchant_keys_key", "merchant_keys", ["kind", "value"])
    op.create_table(
        "identity_links",
        sa.Column("merchant_id", sa.String(64), primary_key=True),
        sa.Column("identity_id", sa.Integer(), nullable=False),
        *_stamp(),
    )
    op.create_index("ix_identity_links_identity_id", "identity_links", ["identity_id"])


def downgrade() -> None:
    for table in (
        "identity_links",
        "merchant_keys",
        "record_history",
        "registry_status_history",
        "market_removals",
        "market_lab_results",
        "market_reviews",
        "market_listings",
        "market_merchants",
        "market_revisions",
    ):
        op.drop_table(table)
