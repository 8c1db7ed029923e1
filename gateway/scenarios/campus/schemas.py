from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from gateway.core_banking.port import PositiveFen
from gateway.schemas import Strict

StudentNo = Annotated[str, Meta(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$")]
Term = Annotated[str, Meta(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$")]


class MerchantCreate(Strict):
    external_ref: Annotated[str, Meta(min_length=1, max_length=128)]
    name: Annotated[str, Meta(min_length=1, max_length=200)]
    type: Literal["canteen", "shop", "service"]


class MerchantRead(msgspec.Struct):
    id: str
    external_ref: str
    name: str
    type: str
    created_at: datetime


class CardRead(msgspec.Struct):
    """A campus card; ``minor`` flags a holder under 18 today (Asia/Shanghai)."""

    id: str
    customer_id: str
    student_no: str
    role: str
    status: str
    balance: int
    minor: bool
    created_at: datetime
    closed_at: datetime | None
    currency: str = "CNY"


class TopUpCreate(Strict):
    amount: PositiveFen
    context: dict[str, str] | None = None


class CardMovementRead(msgspec.Struct):
    """A top-up, card payment or withdrawal: the transaction and the card's balance after it."""

    id: str
    card_id: str
    kind: str
    amount: int
    balance: int
    status: str
    merchant_id: str | None = None
    terminal_id: str | None = None
    currency: str = "CNY"


class PaymentCreate(Strict):
    card_id: str
    merchant_id: str
    terminal_id: Annotated[str, Meta(min_length=1, max_length=64)]
    amount: PositiveFen
    external_ref: Annotated[str, Meta(min_length=1, max_length=128)] | None = None


class WithdrawalRead(msgspec.Struct):
    """The card is closed; ``id`` is the withdrawal's transaction (none for an empty card)."""

    id: str | None
    card_id: str
    amount: int
    card_status: str
    currency: str = "CNY"


class TuitionBillIn(Strict):
    student_no: StudentNo
    term: Term
    amount: PositiveFen
    due_date: date
    item: Literal["tuition", "accommodation", "other"] = "tuition"
    external_ref: Annotated[str, Meta(min_length=1, max_length=128)] | None = None


class TuitionBillsCreate(Strict):
    items: Annotated[list[TuitionBillIn], Meta(min_length=1, max_length=5000)]


class TuitionBillRead(msgspec.Struct):
    id: str
    card_id: str
    customer_id: str
    student_no: str
    item: str
    term: str
    amount: int
    due_date: date
    status: str
    external_ref: str | None
    transaction_id: str | None
    minor: bool
    currency: str = "CNY"
