"""risk merchant hours: a merchant's transactions and releases summed per sealed hour (ADR 0023)

A payment's merchant features (the week's count and night share, the 24 hours' volume and
round-amount share) and a release's (the escrow flow today and over the 30 days before) read the
sums of the hours that ended at least 15 minutes ago, plus the events of the windows' partial
first hours and of the last hour or so, instead of every event of the window.
``risk_merchant_sealed`` says which hours of a merchant are filled.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import gateway.db

revision: str = "0018"
down_revision: str | Sequence[str] | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "risk_merchant_hours",
        sa.Column("merchant", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column("hour", gateway.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("nights", sa.Integer(), nullable=False),
        sa.Column("payment_sum", sa.BigInteger(), nullable=False),
        sa.Column("round_sum", sa.BigInteger(), nullable=False),
        sa.Column("flow_sum", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("merchant", "hour", name=op.f("pk_risk_merchant_hours")),
    )
    op.create_table(
        "risk_merchant_sealed",
        sa.Column("merchant", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column("since", gateway.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("until", gateway.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("merchant", name=op.f("pk_risk_merchant_sealed")),
    )


def downgrade() -> None:
    op.drop_table("risk_merchant_sealed")
    op.drop_table("risk_merchant_hours")
