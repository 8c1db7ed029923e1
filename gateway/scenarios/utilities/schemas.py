from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec
from msgspec import Meta

from gateway.core_banking.port import PositiveFen
from gateway.scenarios.utilities.protocol import BillKey, UtilityAccountNo
from gateway.schemas import Strict


class BillRead(msgspec.Struct):
    biller_id: str
    account_no: str
    bill_key: str | None
    holder_name: str
    amount_due: int
    period: str | None
    currency: str = "CNY"


class PaymentCreate(Strict):
    biller_id: Annotated[str, Meta(min_length=1, max_length=40)]
    account_no: UtilityAccountNo
    bill_key: BillKey
    amount: PositiveFen
    customer_id: Annotated[str, Meta(min_length=1, max_length=40)]
    context: dict[str, str] | None = None


class PaymentRead(msgspec.Struct):
    id: str
    biller_id: str
    account_no: str
    bill_key: str
    customer_id: str
    amount: int
    status: str
    transaction_id: str | None
    reversal_transaction_id: str | None
    biller_reference: str | None
    error_code: str | None
    agreement_id: str | None
    created_at: datetime
    resolved_at: datetime | None
    currency: str = "CNY"


class AgreementCreate(Strict):
    biller_id: Annotated[str, Meta(min_length=1, max_length=40)]
    account_no: UtilityAccountNo
    customer_id: Annotated[str, Meta(min_length=1, max_length=40)]
    cap: PositiveFen
    external_ref: Annotated[str, Meta(min_length=1, max_length=128)] | None = None


class AgreementRead(msgspec.Struct):
    id: str
    biller_id: str
    account_no: str
    customer_id: str
    cap: int
    status: str
    external_ref: str | None
    created_at: datetime
    cancelled_at: datetime | None
    currency: str = "CNY"
