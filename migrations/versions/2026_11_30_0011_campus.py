"""campus card: cards, merchants, card activity and tuition bills

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import gateway.db

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "campus_merchants",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("partner_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("external_ref", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("type", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("created_at", gateway.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "type IN ('canteen', 'shop', 'service')", name=op.f("ck_campus_merchants_type_known")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campus_merchants")),
        sa.UniqueConstraint(
            "partner_id", "external_ref", name=op.f("uq_campus_merchants_partner_id_external_ref")
        ),
    )
    with op.batch_alter_table("campus_merchants", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_campus_merchants_partner_id"), ["partner_id"], unique=False
        )

    op.create_table(
        "campus_cards",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("partner_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("customer_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("student_no", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("role", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("balance", sa.BigInteger(), nullable=False),
        sa.Column("sub_channel", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=True),
        sa.Column("created_at", gateway.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", gateway.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("closed_at", gateway.db.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint("role IN ('student', 'staff')", name=op.f("ck_campus_cards_role_known")),
        sa.CheckConstraint(
            "status IN ('active', 'frozen', 'closed')", name=op.f("ck_campus_cards_status_known")
        ),
        sa.CheckConstraint(
            "balance >= 0 AND balance <= 100000", name=op.f("ck_campus_cards_balance_cap")
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_campus_cards_customer_id_customers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campus_cards")),
        sa.UniqueConstraint(
            "partner_id", "student_no", name=op.f("uq_campus_cards_partner_id_student_no")
        ),
    )
    with op.batch_alter_table("campus_cards", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_campus_cards_customer_id"), ["customer_id"], unique=False
        )
        batch_op.create_index(
            "ix_campus_cards_partner_role_status", ["partner_id", "role", "status"], unique=False
        )

    op.create_table(
        "campus_card_activity",
        sa.Column("txn_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("card_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("balance_after", sa.BigInteger(), nullable=False),
        sa.Column("merchant_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
        sa.Column("terminal_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("created_at", gateway.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("amount > 0", name=op.f("ck_campus_card_activity_amount_positive")),
        sa.ForeignKeyConstraint(
            ["card_id"],
            ["campus_cards.id"],
            name=op.f("fk_campus_card_activity_card_id_campus_cards"),
        ),
        sa.ForeignKeyConstraint(
            ["txn_id"],
            ["transactions.id"],
            name=op.f("fk_campus_card_activity_txn_id_transactions"),
        ),
        sa.PrimaryKeyConstraint("txn_id", name=op.f("pk_campus_card_activity")),
    )
    with op.batch_alter_table("campus_card_activity", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_campus_card_activity_card_id"), ["card_id"], unique=False
        )
        batch_op.create_index(
            "ix_campus_card_activity_terminal_day",
            ["merchant_id", "terminal_id", "business_date"],
            unique=False,
        )

    op.create_table(
        "campus_tuition_bills",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("partner_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("card_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("customer_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("student_no", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("item", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("term", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column("external_ref", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("txn_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
        sa.Column("paid_at", gateway.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", gateway.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("amount > 0", name=op.f("ck_campus_tuition_bills_amount_positive")),
        sa.ForeignKeyConstraint(
            ["card_id"],
            ["campus_cards.id"],
            name=op.f("fk_campus_tuition_bills_card_id_campus_cards"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campus_tuition_bills")),
        sa.UniqueConstraint(
            "card_id", "item", "term", name=op.f("uq_campus_tuition_bills_card_id_item_term")
        ),
        sa.UniqueConstraint(
            "partner_id",
            "external_ref",
            name=op.f("uq_campus_tuition_bills_partner_id_external_ref"),
        ),
    )
    with op.batch_alter_table("campus_tuition_bills", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_campus_tuition_bills_card_id"), ["card_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_campus_tuition_bills_partner_id"), ["partner_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("campus_tuition_bills", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_campus_tuition_bills_partner_id"))
        batch_op.drop_index(batch_op.f("ix_campus_tuition_bills_card_id"))

    op.drop_table("campus_tuition_bills")
    with op.batch_alter_table("campus_card_activity", schema=None) as batch_op:
        batch_op.drop_index("ix_campus_card_activity_terminal_day")
        batch_op.drop_index(batch_op.f("ix_campus_card_activity_card_id"))

    op.drop_table("campus_card_activity")
    with op.batch_alter_table("campus_cards", schema=None) as batch_op:
        batch_op.drop_index("ix_campus_cards_partner_role_status")
        batch_op.drop_index(batch_op.f("ix_campus_cards_customer_id"))

    op.drop_table("campus_cards")
    with op.batch_alter_table("campus_merchants", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_campus_merchants_partner_id"))

    op.drop_table("campus_merchants")
