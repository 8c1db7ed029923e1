"""channels: attribution, lifecycle milestones, incentives

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import gateway.db

revision: str = "0015"
down_revision: str | Sequence[str] | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "channel_applied_transactions",
        sa.Column("transaction_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("applied_at", gateway.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("transaction_id", name=op.f("pk_channel_applied_transactions")),
    )
    op.create_table(
        "channel_events",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("partner_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("customer_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("type", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("external_ref", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True),
        sa.Column("occurred_at", gateway.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_at", gateway.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_channel_events")),
        sa.UniqueConstraint(
            "partner_id", "external_ref", name=op.f("uq_channel_events_partner_id_external_ref")
        ),
    )
    with op.batch_alter_table("channel_events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_channel_events_customer_id"), ["customer_id"], unique=False
        )

    op.create_table(
        "channel_incentive_months",
        sa.Column("partner_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("month", sqlmodel.sql.sqltypes.AutoString(length=7), nullable=False),
        sa.Column("effective", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("partner_id", "month", name=op.f("pk_channel_incentive_months")),
    )
    op.create_table(
        "channel_incentives",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("customer_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("partner_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("scheme", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("basis", sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("accrued_at", gateway.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("clawed_back_at", gateway.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.CheckConstraint("amount > 0", name=op.f("ck_channel_incentives_amount_positive")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_channel_incentives")),
        sa.UniqueConstraint(
            "customer_id", "basis", name=op.f("uq_channel_incentives_customer_id_basis")
        ),
    )
    with op.batch_alter_table("channel_incentives", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_channel_incentives_customer_id"), ["customer_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_channel_incentives_partner_id"), ["partner_id"], unique=False
        )

    op.create_table(
        "channel_milestones",
        sa.Column("customer_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("partner_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("scenario", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("sub_channel", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=True),
        sa.Column("campaign", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=True),
        sa.Column("referrer_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
        sa.Column("referral_code", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("opened_at", gateway.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("opened_date", sa.Date(), nullable=False),
        sa.Column("cohort_week", sa.Date(), nullable=False),
        sa.Column("cohort_month", sqlmodel.sql.sqltypes.AutoString(length=7), nullable=False),
        sa.Column("activation_days", sa.Integer(), nullable=False),
        sa.Column("effective_min_amount", sa.BigInteger(), nullable=False),
        sa.Column("activated_at", gateway.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("window_amount", sa.BigInteger(), nullable=False),
        sa.Column("effective_at", gateway.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("retained_30d", sa.Boolean(), nullable=False),
        sa.Column("retained_90d", sa.Boolean(), nullable=False),
        sa.Column("last_active_at", gateway.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("referred", sa.Integer(), nullable=False),
        sa.Column("flagged", sa.Boolean(), nullable=False),
        sa.Column("incentive_accrued", sa.BigInteger(), nullable=False),
        sa.Column("incentive_clawed_back", sa.BigInteger(), nullable=False),
        sa.Column("incentive_held", sa.BigInteger(), nullable=False),
        sa.Column("value_tier", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
        sa.Column("inactive_notified_at", gateway.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("dormant_notified_at", gateway.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("updated_at", gateway.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_channel_milestones_customer_id_customers"),
        ),
        sa.PrimaryKeyConstraint("customer_id", name=op.f("pk_channel_milestones")),
        sa.UniqueConstraint("referral_code", name=op.f("uq_channel_milestones_referral_code")),
    )
    with op.batch_alter_table("channel_milestones", schema=None) as batch_op:
        batch_op.create_index("ix_channel_milestones_opened", ["opened_date"], unique=False)
        batch_op.create_index(
            "ix_channel_milestones_partner_opened", ["partner_id", "opened_date"], unique=False
        )
        batch_op.create_index("ix_channel_milestones_referrer", ["referrer_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("channel_milestones", schema=None) as batch_op:
        batch_op.drop_index("ix_channel_milestones_referrer")
        batch_op.drop_index("ix_channel_milestones_partner_opened")
        batch_op.drop_index("ix_channel_milestones_opened")

    op.drop_table("channel_milestones")
    with op.batch_alter_table("channel_incentives", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_channel_incentives_partner_id"))
        batch_op.drop_index(batch_op.f("ix_channel_incentives_customer_id"))

    op.drop_table("channel_incentives")
    op.drop_table("channel_incentive_months")
    with op.batch_alter_table("channel_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_channel_events_customer_id"))

    op.drop_table("channel_events")
    op.drop_table("channel_applied_transactions")
