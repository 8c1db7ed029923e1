"""contactless fuel payment

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import gateway.db

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ACTIVE = sa.text("status = 'active'")


def upgrade() -> None:
    op.create_table(
        "fuel_drivers",
        sa.Column("partner_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("customer_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("plate_no", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column("station_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
        sa.Column("created_at", gateway.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint(
            "partner_id", "customer_id", "plate_no", name=op.f("pk_fuel_drivers")
        ),
    )
    op.create_table(
        "fuel_mandates",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("partner_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("customer_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("plate_no", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column("external_ref", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("tank_capacity_l", sa.Integer(), nullable=False),
        sa.Column("per_txn_limit", sa.BigInteger(), nullable=False),
        sa.Column("daily_limit", sa.BigInteger(), nullable=False),
        sa.Column("created_at", gateway.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", gateway.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", gateway.db.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "per_txn_limit > 0 AND per_txn_limit <= daily_limit",
            name=op.f("ck_fuel_mandates_limits_ordered"),
        ),
        sa.CheckConstraint(
            "tank_capacity_l > 0", name=op.f("ck_fuel_mandates_tank_capacity_positive")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fuel_mandates")),
        sa.UniqueConstraint(
            "partner_id", "external_ref", name=op.f("uq_fuel_mandates_partner_id_external_ref")
        ),
    )
    with op.batch_alter_table("fuel_mandates", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_fuel_mandates_customer_id"), ["customer_id"], unique=False
        )
        batch_op.create_index(
            "uq_fuel_mandates_active_plate",
            ["partner_id", "plate_no"],
            unique=True,
            sqlite_where=ACTIVE,
            postgresql_where=ACTIVE,
        )

    op.create_table(
        "fuel_stations",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("partner_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("external_ref", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("address", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("pumps", sa.Integer(), nullable=False),
        sa.Column("created_at", gateway.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("pumps > 0", name=op.f("ck_fuel_stations_pumps_positive")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fuel_stations")),
        sa.UniqueConstraint(
            "partner_id", "external_ref", name=op.f("uq_fuel_stations_partner_id_external_ref")
        ),
    )
    with op.batch_alter_table("fuel_stations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_fuel_stations_partner_id"), ["partner_id"], unique=False
        )

    op.create_table(
        "fuel_transactions",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("partner_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("station_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("mandate_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("plate_no", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column("pump_no", sa.Integer(), nullable=False),
        sa.Column("fuel_grade", sqlmodel.sql.sqltypes.AutoString(length=4), nullable=False),
        sa.Column("litres_ml", sa.Integer(), nullable=False),
        sa.Column("unit_price", sa.Integer(), nullable=False),
        sa.Column("tank_capacity_l", sa.Integer(), nullable=False),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.CheckConstraint("litres_ml > 0", name=op.f("ck_fuel_transactions_litres_positive")),
        sa.CheckConstraint("unit_price > 0", name=op.f("ck_fuel_transactions_unit_price_positive")),
        sa.ForeignKeyConstraint(
            ["id"], ["transactions.id"], name=op.f("fk_fuel_transactions_id_transactions")
        ),
        sa.ForeignKeyConstraint(
            ["mandate_id"],
            ["fuel_mandates.id"],
            name=op.f("fk_fuel_transactions_mandate_id_fuel_mandates"),
        ),
        sa.ForeignKeyConstraint(
            ["station_id"],
            ["fuel_stations.id"],
            name=op.f("fk_fuel_transactions_station_id_fuel_stations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fuel_transactions")),
    )
    with op.batch_alter_table("fuel_transactions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_fuel_transactions_plate_day",
            ["partner_id", "plate_no", "business_date"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_fuel_transactions_station_id"), ["station_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("fuel_transactions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_fuel_transactions_station_id"))
        batch_op.drop_index("ix_fuel_transactions_plate_day")

    op.drop_table("fuel_transactions")
    with op.batch_alter_table("fuel_stations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_fuel_stations_partner_id"))

    op.drop_table("fuel_stations")
    with op.batch_alter_table("fuel_mandates", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_fuel_mandates_active_plate", sqlite_where=ACTIVE, postgresql_where=ACTIVE
        )
        batch_op.drop_index(batch_op.f("ix_fuel_mandates_customer_id"))

    op.drop_table("fuel_mandates")
    op.drop_table("fuel_drivers")
