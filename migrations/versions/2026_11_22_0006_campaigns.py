"""campaigns

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import gateway.db

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "campaigns",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("scenario", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("partner_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
        sa.Column("product_type", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("budget", sa.BigInteger(), nullable=False),
        sa.Column("spent", sa.BigInteger(), nullable=False),
        sa.Column("subsidy_type", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
        sa.Column("subsidy_value", sa.BigInteger(), nullable=True),
        sa.Column("cap_per_txn", sa.BigInteger(), nullable=True),
        sa.Column("cap_per_customer_month", sa.BigInteger(), nullable=True),
        sa.Column("activation_days", sa.Integer(), nullable=False),
        sa.Column("effective_min_amount", sa.BigInteger(), nullable=False),
        sa.Column("starts_at", gateway.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ends_at", gateway.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
        sa.Column("created_at", gateway.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", gateway.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("budget > 0", name=op.f("ck_campaigns_budget_positive")),
        # The budget is never overdrawn and never goes below zero, whatever the application does.
        sa.CheckConstraint("spent >= 0", name=op.f("ck_campaigns_spent_not_negative")),
        sa.CheckConstraint("spent <= budget", name=op.f("ck_campaigns_spent_within_budget")),
        sa.CheckConstraint("ends_at > starts_at", name=op.f("ck_campaigns_ends_after_start")),
        sa.CheckConstraint(
            "(subsidy_type IS NULL AND subsidy_value IS NULL AND cap_per_txn IS NULL"
            " AND cap_per_customer_month IS NULL) OR (subsidy_type IS NOT NULL"
            " AND subsidy_value > 0 AND cap_per_txn > 0 AND cap_per_customer_month > 0)",
            name=op.f("ck_campaigns_subsidy_complete"),
        ),
        sa.ForeignKeyConstraint(
            ["partner_id"], ["partners.id"], name=op.f("fk_campaigns_partner_id_partners")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaigns")),
    )
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        # Serves active_campaign(): scenario and status first, then partner-specific or not.
        batch_op.create_index(
            "ix_campaigns_lookup", ["scenario", "status", "partner_id"], unique=False
        )

    op.create_table(
        "campaign_customer_months",
        sa.Column("campaign_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("customer_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("month", sqlmodel.sql.sqltypes.AutoString(length=7), nullable=False),
        sa.Column("used", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("used >= 0", name=op.f("ck_campaign_customer_months_used_not_negative")),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_campaign_customer_months_campaign_id_campaigns"),
        ),
        sa.PrimaryKeyConstraint(
            "campaign_id", "customer_id", "month", name=op.f("pk_campaign_customer_months")
        ),
    )


def downgrade() -> None:
    op.drop_table("campaign_customer_months")
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.drop_index("ix_campaigns_lookup")

    op.drop_table("campaigns")
