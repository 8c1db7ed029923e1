from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from gateway.core_banking.port import PositiveFen
from gateway.scenarios.fuel.models import (
    DEFAULT_DAILY_LIMIT,
    DEFAULT_PER_TXN_LIMIT,
    DEFAULT_TANK_CAPACITY_L,
)
from gateway.schemas import Strict

ExternalRef = Annotated[str, Meta(min_length=1, max_length=128)]
# Room for a plate with stray spaces or lower-case letters; the service normalises and checks it.
PlateIn = Annotated[str, Meta(min_length=1, max_length=16)]
FuelGrade = Literal["92", "95", "98", "0"]


class StationCreate(Strict):
    name: Annotated[str, Meta(min_length=1, max_length=200)]
    address: Annotated[str, Meta(min_length=1, max_length=500)]
    pumps: Annotated[int, Meta(gt=0, le=200)]
    external_ref: ExternalRef | None = None


class StationRead(msgspec.Struct):
    id: str
    external_ref: str | None
    name: str
    address: str
    pumps: int
    created_at: datetime


class MandateCreate(Strict):
    customer_id: str
    plate_no: PlateIn
    tank_capacity_l: Annotated[int, Meta(gt=0, le=2000)] = DEFAULT_TANK_CAPACITY_L
    per_txn_limit: PositiveFen = DEFAULT_PER_TXN_LIMIT
    daily_limit: PositiveFen = DEFAULT_DAILY_LIMIT
    external_ref: ExternalRef | None = None


class MandateRead(msgspec.Struct):
    id: str
    external_ref: str | None
    customer_id: str
    plate_no: str
    new_energy: bool
    status: str
    tank_capacity_l: int
    per_txn_limit: int
    daily_limit: int
    created_at: datetime
    revoked_at: datetime | None
    currency: str = "CNY"


class Context(Strict):
    """What the station's system saw of the request (DESIGN §6), for risk features."""

    device_id: Annotated[str, Meta(max_length=128)] | None = None
    ip: Annotated[str, Meta(max_length=64)] | None = None
    user_agent: Annotated[str, Meta(max_length=512)] | None = None


class FuelTransactionCreate(Strict):
    station_id: str
    plate_no: PlateIn
    pump_no: Annotated[int, Meta(gt=0, le=200)]
    fuel_grade: FuelGrade
    litres_ml: Annotated[int, Meta(gt=0, le=10_000_000)]
    unit_price: Annotated[int, Meta(gt=0, le=100_000, description="fen per litre")]
    amount: PositiveFen
    external_ref: ExternalRef | None = None
    context: Context | None = None


class FuelTransactionRead(msgspec.Struct):
    id: str
    external_ref: str | None
    station_id: str
    mandate_id: str
    customer_id: str
    plate_no: str
    pump_no: int
    fuel_grade: str
    litres_ml: int
    unit_price: int
    amount: int
    subsidy: int
    charged: int
    refunded: int
    campaign_id: str | None
    status: str
    business_date: date
    occurred_at: datetime
    currency: str = "CNY"


class RefundCreate(Strict):
    amount: PositiveFen


class RefundRead(msgspec.Struct):
    id: str
    transaction_id: str
    amount: int
    subsidy_returned: int
    credited: int
    status: str
    business_date: date
    occurred_at: datetime
    currency: str = "CNY"
