"""utility bill payment

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import gateway.db

revision: str = "0012"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "utilities_agreements",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("partner_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("biller_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("customer_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("account_no", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("cap", sa.BigInteger(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("external_ref", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True),
        sa.Column("created_at", gateway.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("cancelled_at", gateway.db.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint("cap > 0", name=op.f("ck_utilities_agreements_cap_positive")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_utilities_agreements")),
        sa.UniqueConstraint(
            "partner_id",
            "external_ref",
            name=op.f("uq_utilities_agreements_partner_id_external_ref"),
        ),
    )
    with op.batch_alter_table("utilities_agreements", schema=None) as batch_op:
        batch_op.create_index(
            "ix_utilities_agreements_account", ["partner_id", "account_no", "status"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_utilities_agreements_partner_id"), ["partner_id"], unique=False
        )

    op.create_table(
        "utilities_payments",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("partner_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("biller_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("customer_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("account_no", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("bill_key", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("request_ref", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.Column("agreement_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
        sa.Column("txn_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
        sa.Column("reversal_txn_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
        sa.Column("biller_reference", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("error_code", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("created_at", gateway.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", gateway.db.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint("amount > 0", name=op.f("ck_utilities_payments_amount_positive")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_utilities_payments")),
        sa.UniqueConstraint(
            "partner_id", "request_ref", name=op.f("uq_utilities_payments_partner_id_request_ref")
        ),
    )
    with op.batch_alter_table("utilities_payments", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_utilities_payments_partner_id"), ["partner_id"], unique=False
        )
        batch_op.create_index(
            "ix_utilities_payments_status", ["status", "created_at"], unique=False
        )

    op.create_table(
        "utilities_scheduled_debits",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("agreement_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("bill_key", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("period", sqlmodel.sql.sqltypes.AutoString(length=7), nullable=True),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("notice_event_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
        sa.Column("notified_at", gateway.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("debit_at", gateway.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("payment_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
        sa.Column("skip_reason", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["agreement_id"],
            ["utilities_agreements.id"],
            name=op.f("fk_utilities_scheduled_debits_agreement_id_utilities_agreements"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_utilities_scheduled_debits")),
        sa.UniqueConstraint(
            "agreement_id",
            "bill_key",
            name=op.f("uq_utilities_scheduled_debits_agreement_id_bill_key"),
        ),
    )


def downgrade() -> None:
    op.drop_table("utilities_scheduled_debits")
    with op.batch_alter_table("utilities_payments", schema=None) as batch_op:
        batch_op.drop_index("ix_utilities_payments_status")
        batch_op.drop_index(batch_op.f("ix_utilities_payments_partner_id"))

    op.drop_table("utilities_payments")
    with op.batch_alter_table("utilities_agreements", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_utilities_agreements_partner_id"))
        batch_op.drop_index("ix_utilities_agreements_account")

    op.drop_table("utilities_agreements")
