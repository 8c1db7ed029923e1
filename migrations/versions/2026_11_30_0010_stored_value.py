"""stored-value fund supervision

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import gateway.db

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "stored_value_cards",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("partner_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("customer_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("external_ref", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True),
        sa.Column("named", sa.Boolean(), nullable=False),
        sa.Column("product_type", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("package_lessons", sa.Integer(), nullable=True),
        sa.Column("package_term_months", sa.Integer(), nullable=True),
        sa.Column("balance", sa.BigInteger(), nullable=False),
        sa.Column("lessons_remaining", sa.Integer(), nullable=False),
        sa.Column("months_purchased", sa.Integer(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("created_at", gateway.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", gateway.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "balance <= 500000", name=op.f("ck_stored_value_cards_balance_within_named_cap")
        ),
        sa.CheckConstraint("balance >= 0", name=op.f("ck_stored_value_cards_balance_not_negative")),
        sa.CheckConstraint(
            "lessons_remaining >= 0", name=op.f("ck_stored_value_cards_lessons_not_negative")
        ),
        sa.CheckConstraint(
            "named OR balance <= 100000", name=op.f("ck_stored_value_cards_anonymous_within_cap")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stored_value_cards")),
        sa.UniqueConstraint(
            "partner_id", "external_ref", name=op.f("uq_stored_value_cards_partner_id_external_ref")
        ),
    )
    with op.batch_alter_table("stored_value_cards", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_stored_value_cards_customer_id"), ["customer_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_stored_value_cards_partner_id"), ["partner_id"], unique=False
        )

    op.create_table(
        "stored_value_merchants",
        sa.Column("partner_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("wound_down_at", gateway.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("wound_down_by", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=True),
        sa.Column("escrow_before", sa.BigInteger(), nullable=True),
        sa.Column("outstanding_before", sa.BigInteger(), nullable=True),
        sa.Column("refunded", sa.BigInteger(), nullable=True),
        sa.Column("shortfall", sa.BigInteger(), nullable=True),
        sa.Column("cards_refunded", sa.Integer(), nullable=True),
        sa.Column("created_at", gateway.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", gateway.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("partner_id", name=op.f("pk_stored_value_merchants")),
    )
    op.create_table(
        "stored_value_movements",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("card_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("partner_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("lessons", sa.Integer(), nullable=False),
        sa.Column("shortfall", sa.BigInteger(), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True),
        sa.Column("txn_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
        sa.Column("balance_after", sa.BigInteger(), nullable=False),
        sa.Column("occurred_at", gateway.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "amount >= 0", name=op.f("ck_stored_value_movements_amount_not_negative")
        ),
        sa.ForeignKeyConstraint(
            ["card_id"],
            ["stored_value_cards.id"],
            name=op.f("fk_stored_value_movements_card_id_stored_value_cards"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stored_value_movements")),
    )
    with op.batch_alter_table("stored_value_movements", schema=None) as batch_op:
        batch_op.create_index(
            "ix_stored_value_movements_card", ["card_id", "occurred_at"], unique=False
        )
        batch_op.create_index(
            "ix_stored_value_movements_partner", ["partner_id", "kind", "occurred_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("stored_value_movements", schema=None) as batch_op:
        batch_op.drop_index("ix_stored_value_movements_partner")
        batch_op.drop_index("ix_stored_value_movements_card")

    op.drop_table("stored_value_movements")
    op.drop_table("stored_value_merchants")
    with op.batch_alter_table("stored_value_cards", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_stored_value_cards_partner_id"))
        batch_op.drop_index(batch_op.f("ix_stored_value_cards_customer_id"))

    op.drop_table("stored_value_cards")
