"""Tables of the fuel scenario: stations, plate mandates, drivers' declared plates, and the
fuel facts of each payment (the money itself is a row of the shared ``transactions``)."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from gateway.db import UTCDateTime, utcnow

DEFAULT_TANK_CAPACITY_L = 60
DEFAULT_PER_TXN_LIMIT = 100_000
DEFAULT_DAILY_LIMIT = 200_000


class MandateStatus(StrEnum):
    ACTIVE = "active"
    REVOKED = "revoked"


class Station(SQLModel, table=True):
    """A fuel station of the operator: the scenario's sub-channel."""

    __tablename__ = "fuel_stations"
    __table_args__ = (
        sa.UniqueConstraint("partner_id", "external_ref"),
        sa.CheckConstraint("pumps > 0", name="pumps_positive"),
    )

    id: str = Field(primary_key=True, max_length=40)
    partner_id: str = Field(max_length=40, index=True)
    external_ref: str | None = Field(default=None, max_length=128)
    name: str = Field(max_length=200)
    address: str = Field(max_length=500)
    pumps: int
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Mandate(SQLModel, table=True):
    """A driver's consent (免密支付协议) to be charged for fuel put into one plate's tank.

    One active mandate per plate and partner, held by a partial unique index; the row is also
    what concurrent fuelings of the plate lock to take turns at the daily limit.
    """

    __tablename__ = "fuel_mandates"
    __table_args__ = (
        sa.UniqueConstraint("partner_id", "external_ref"),
        sa.Index(
            "uq_fuel_mandates_active_plate",
            "partner_id",
            "plate_no",
            unique=True,
            sqlite_where=sa.text("status = 'active'"),
            postgresql_where=sa.text("status = 'active'"),
        ),
        sa.CheckConstraint("tank_capacity_l > 0", name="tank_capacity_positive"),
        sa.CheckConstraint(
            "per_txn_limit > 0 AND per_txn_limit <= daily_limit", name="limits_ordered"
        ),
    )

    id: str = Field(primary_key=True, max_length=40)
    partner_id: str = Field(max_length=40)
    customer_id: str = Field(max_length=40, index=True)
    plate_no: str = Field(max_length=8)
    external_ref: str | None = Field(default=None, max_length=128)
    status: str = Field(default=MandateStatus.ACTIVE, max_length=16)
    tank_capacity_l: int = DEFAULT_TANK_CAPACITY_L
    per_txn_limit: int = Field(default=DEFAULT_PER_TXN_LIMIT, sa_type=sa.BigInteger)
    daily_limit: int = Field(default=DEFAULT_DAILY_LIMIT, sa_type=sa.BigInteger)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class Driver(SQLModel, table=True):
    """A plate a partner declared for a customer it opened (``attributes.plate_no``).

    A record, not a consent: nothing is ever charged because of it. It tells which station
    brought which plates and lets risk see one plate behind several customers.
    """

    __tablename__ = "fuel_drivers"

    partner_id: str = Field(primary_key=True, max_length=40)
    customer_id: str = Field(primary_key=True, max_length=40)
    plate_no: str = Field(primary_key=True, max_length=8)
    station_id: str | None = Field(default=None, max_length=40)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class FuelTransaction(SQLModel, table=True):
    """The fuel facts of one payment; ``id`` is the ``transactions`` row it explains."""

    __tablename__ = "fuel_transactions"
    __table_args__ = (
        sa.CheckConstraint("litres_ml > 0", name="litres_positive"),
        sa.CheckConstraint("unit_price > 0", name="unit_price_positive"),
        sa.Index("ix_fuel_transactions_plate_day", "partner_id", "plate_no", "business_date"),
    )

    id: str = Field(primary_key=True, foreign_key="transactions.id", max_length=40)
    partner_id: str = Field(max_length=40)
    station_id: str = Field(foreign_key="fuel_stations.id", max_length=40, index=True)
    mandate_id: str = Field(foreign_key="fuel_mandates.id", max_length=40)
    plate_no: str = Field(max_length=8)
    pump_no: int
    fuel_grade: str = Field(max_length=4)
    litres_ml: int
    unit_price: int = Field(description="fen per litre")
    tank_capacity_l: int
    business_date: date
