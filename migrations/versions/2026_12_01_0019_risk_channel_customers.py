"""risk channel customers: each customer's last two payments in a sub-channel (ADR 0023)

The one-and-done share (how many of a sub-channel's customers paid once, just over the
effective threshold, more than a week ago) counts these rows, plus the payments since the
sub-channel's sealed boundary, instead of grouping a month of payments per customer.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import gateway.db

revision: str = "0019"
down_revision: str | Sequence[str] | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "risk_channel_customers",
        sa.Column("sub_channel", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column("customer_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("last_at", gateway.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_amount", sa.BigInteger(), nullable=False),
        sa.Column("prev_at", gateway.db.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint(
            "sub_channel", "customer_id", name=op.f("pk_risk_channel_customers")
        ),
    )
    with op.batch_alter_table("risk_channel_customers", schema=None) as batch_op:
        batch_op.create_index(
            "ix_risk_channel_customers_last", ["sub_channel", "last_at"], unique=False
        )

    op.create_table(
        "risk_channel_sealed",
        sa.Column("sub_channel", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column("until", gateway.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("sub_channel", name=op.f("pk_risk_channel_sealed")),
    )


def downgrade() -> None:
    op.drop_table("risk_channel_sealed")
    with op.batch_alter_table("risk_channel_customers", schema=None) as batch_op:
        batch_op.drop_index("ix_risk_channel_customers_last")
    op.drop_table("risk_channel_customers")
