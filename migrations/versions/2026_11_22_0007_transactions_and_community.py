"""scenario transactions and smart community

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import gateway.db

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "community_communities",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("partner_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("external_ref", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("address", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("households", sa.Integer(), nullable=False),
        sa.Column("created_at", gateway.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_community_communities")),
        sa.UniqueConstraint(
            "partner_id",
            "external_ref",
            name=op.f("uq_community_communities_partner_id_external_ref"),
        ),
    )
    with op.batch_alter_table("community_communities", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_community_communities_partner_id"), ["partner_id"], unique=False
        )

    op.create_table(
        "transactions",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("partner_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("scenario", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("customer_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
        sa.Column("sub_channel", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=True),
        sa.Column("campaign_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("subsidy", sa.BigInteger(), nullable=False),
        sa.Column("reference", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("core_reference", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=True),
        sa.Column("related_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
        sa.Column("external_ref", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True),
        sa.Column("occurred_at", gateway.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.CheckConstraint("amount > 0", name=op.f("ck_transactions_amount_positive")),
        sa.CheckConstraint(
            "subsidy >= 0 AND subsidy <= amount", name=op.f("ck_transactions_subsidy_within_amount")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_transactions")),
        sa.UniqueConstraint(
            "partner_id", "external_ref", name=op.f("uq_transactions_partner_id_external_ref")
        ),
        sa.UniqueConstraint("reference", name=op.f("uq_transactions_reference")),
    )
    with op.batch_alter_table("transactions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_transactions_customer_id"), ["customer_id"], unique=False
        )
        batch_op.create_index(
            "ix_transactions_partner_day", ["partner_id", "scenario", "business_date"], unique=False
        )

    op.create_table(
        "community_bills",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("partner_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("community_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("unit", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("customer_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("item", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("period", sqlmodel.sql.sqltypes.AutoString(length=7), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("txn_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
        sa.Column("paid_at", gateway.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", gateway.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("amount > 0", name=op.f("ck_community_bills_amount_positive")),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["community_communities.id"],
            name=op.f("fk_community_bills_community_id_community_communities"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_community_bills")),
        sa.UniqueConstraint(
            "community_id",
            "unit",
            "item",
            "period",
            name=op.f("uq_community_bills_community_id_unit_item_period"),
        ),
    )
    with op.batch_alter_table("community_bills", schema=None) as batch_op:
        batch_op.create_index(
            "ix_community_bills_lookup", ["community_id", "period", "status"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_community_bills_partner_id"), ["partner_id"], unique=False
        )

    op.create_table(
        "community_owners",
        sa.Column("community_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("customer_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("unit", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("created_at", gateway.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["community_id"],
            ["community_communities.id"],
            name=op.f("fk_community_owners_community_id_community_communities"),
        ),
        sa.PrimaryKeyConstraint("community_id", "customer_id", name=op.f("pk_community_owners")),
    )


def downgrade() -> None:
    op.drop_table("community_owners")
    with op.batch_alter_table("community_bills", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_community_bills_partner_id"))
        batch_op.drop_index("ix_community_bills_lookup")

    op.drop_table("community_bills")
    with op.batch_alter_table("transactions", schema=None) as batch_op:
        batch_op.drop_index("ix_transactions_partner_day")
        batch_op.drop_index(batch_op.f("ix_transactions_customer_id"))

    op.drop_table("transactions")
    with op.batch_alter_table("community_communities", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_community_communities_partner_id"))

    op.drop_table("community_communities")
