"""core banking sandbox

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import gateway.db

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sandbox_accounts",
        sa.Column("account_no", sqlmodel.sql.sqltypes.AutoString(length=19), nullable=False),
        sa.Column("reference", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=24), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("customer_ref", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.Column(
            "holder_name_masked", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False
        ),
        sa.Column("id_number_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("bound_account_no", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column("balance", sa.BigInteger(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", gateway.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", gateway.db.UTCDateTime(timezone=True), nullable=False),
        # The core never lets an account go below zero, whatever the application checked first.
        sa.CheckConstraint("balance >= 0", name=op.f("ck_sandbox_accounts_balance_not_negative")),
        sa.PrimaryKeyConstraint("account_no", name=op.f("pk_sandbox_accounts")),
        # One Class II account per person at this bank (NULL for internal accounts, never equal).
        sa.UniqueConstraint("id_number_hash", name=op.f("uq_sandbox_accounts_id_number_hash")),
        sa.UniqueConstraint("reference", name=op.f("uq_sandbox_accounts_reference")),
    )
    op.create_table(
        "sandbox_movements",
        sa.Column("core_reference", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("reference", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("from_account", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column("to_account", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sqlmodel.sql.sqltypes.AutoString(length=3), nullable=False),
        sa.Column("purpose", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("error_code", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
        sa.Column("limited", sa.Boolean(), nullable=False),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("created_at", gateway.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "(status = 'failed') = (error_code IS NOT NULL)",
            name=op.f("ck_sandbox_movements_error_code_iff_failed"),
        ),
        sa.CheckConstraint("amount > 0", name=op.f("ck_sandbox_movements_amount_positive")),
        sa.PrimaryKeyConstraint("core_reference", name=op.f("pk_sandbox_movements")),
        # The idempotent reference: a re-sent instruction can never be recorded (or move money) twice.
        sa.UniqueConstraint("reference", name=op.f("uq_sandbox_movements_reference")),
    )
    with op.batch_alter_table("sandbox_movements", schema=None) as batch_op:
        # Class II caps sum an account's capped outflows of a day and of a year.
        batch_op.create_index(
            "ix_sandbox_movements_limits", ["from_account", "business_date"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("sandbox_movements", schema=None) as batch_op:
        batch_op.drop_index("ix_sandbox_movements_limits")

    op.drop_table("sandbox_movements")
    op.drop_table("sandbox_accounts")
