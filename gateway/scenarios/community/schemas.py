from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from gateway.core_banking.port import PositiveFen
from gateway.schemas import Strict

Period = Annotated[str, Meta(pattern=r"^\d{4}-(0[1-9]|1[0-2])$")]


class CommunityCreate(Strict):
    external_ref: Annotated[str, Meta(min_length=1, max_length=128)]
    name: Annotated[str, Meta(min_length=1, max_length=200)]
    address: Annotated[str, Meta(min_length=1, max_length=500)]
    households: Annotated[int, Meta(gt=0, le=1_000_000)]


class CommunityRead(msgspec.Struct):
    id: str
    external_ref: str
    name: str
    address: str
    households: int
    created_at: datetime


class BillIn(Strict):
    community_id: str
    unit: Annotated[str, Meta(min_length=1, max_length=64)]
    customer_id: str
    item: Literal["property_fee", "parking_fee"]
    period: Period
    amount: PositiveFen
    due_date: date


class BillsCreate(Strict):
    items: Annotated[list[BillIn], Meta(min_length=1, max_length=5000)]


class BillRead(msgspec.Struct):
    id: str
    community_id: str
    unit: str
    customer_id: str
    item: str
    period: str
    amount: int
    status: str
    due_date: date
    currency: str = "CNY"


class PaymentCreate(Strict):
    bill_id: str
    customer_id: str
    context: dict[str, str] | None = None


class PaymentRead(msgspec.Struct):
    id: str
    bill_id: str
    customer_id: str
    amount: int
    discount: int
    charged: int
    status: str
    campaign_id: str | None
    currency: str = "CNY"


class PeriodStats(msgspec.Struct):
    period: str
    billed: int
    paid: int
    collection_rate: float


class CommunityStats(msgspec.Struct):
    community_id: str
    households: int
    owners_with_accounts: int
    coverage: float
    periods: list[PeriodStats]
