from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from gateway.core_banking.port import PositiveFen
from gateway.schemas import Strict

Count = Annotated[int, Meta(gt=0, le=10_000)]


class Product(Strict):
    type: Literal["stored_value", "lesson_package", "membership"]
    lessons: Count | None = None
    term_months: Count | None = None


class CardCreate(Strict):
    customer_id: str
    named: bool
    product: Product
    external_ref: Annotated[str, Meta(min_length=1, max_length=128)] | None = None


class TopUpCreate(Strict):
    """``lessons`` / ``term_months`` are what this charge buys; they default to the product's."""

    amount: PositiveFen
    lessons: Count | None = None
    term_months: Count | None = None
    context: dict[str, str] | None = None


class ConsumptionCreate(Strict):
    """A lesson package is consumed by ``lessons`` (its value is released; ``amount``, if
    sent, must equal it); any other card by ``amount``."""

    amount: PositiveFen | None = None
    lessons: Count | None = None


class RefundCreate(Strict):
    amount: PositiveFen
    reason: Literal["cooling_off", "closure", "other"]


class ProductRead(msgspec.Struct):
    type: str
    lessons: int | None
    term_months: int | None


class CardRead(msgspec.Struct):
    id: str
    customer_id: str
    external_ref: str | None
    named: bool
    product: ProductRead
    balance: int
    lessons_remaining: int
    months_purchased: int
    status: str
    created_at: datetime
    currency: str = "CNY"


class MovementRead(msgspec.Struct):
    """The answer to a top-up, consumption or refund: what moved and where the card stands."""

    card_id: str
    kind: str
    amount: int
    lessons: int
    transaction_id: str | None
    balance: int
    lessons_remaining: int
    reason: str | None = None
    currency: str = "CNY"


class EscrowRead(msgspec.Struct):
    industry: str
    issuer_class: str
    outstanding_balance: int
    escrow_balance: int
    required_reserve: int
    reserve_ratio: float
    releasable: int
    frozen: bool
    currency: str = "CNY"


class WindDownRead(msgspec.Struct):
    partner_id: str
    status: Literal["wound_down"]
    wound_down_at: datetime
    wound_down_by: str
    escrow_before: int
    outstanding_before: int
    refunded: int
    shortfall: int
    pro_rata: bool
    cards_refunded: int
    currency: str = "CNY"
