from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

import msgspec

from gateway.money import CURRENCY
from gateway.partners.schemas import SettlementAccount
from gateway.schemas import Strict

Bps = Annotated[int, msgspec.Meta(ge=0, le=10_000)]


class ContractUpdate(Strict):
    fee_bps: dict[str, Bps] = msgspec.field(default_factory=dict)
    cycle_days: Annotated[int, msgspec.Meta(ge=1, le=7)] | None = None
    incentive_scheme: Literal["bounty", "tiered_bounty", "revenue_share"] | None = None
    settlement_account: SettlementAccount | None = None
    effective_from: date | None = None


class ContractRead(msgspec.Struct):
    partner_id: str
    version: int
    fee_bps: dict[str, int]
    cycle_days: int
    incentive_scheme: str
    settlement_account: dict[str, str] | None
    effective_from: date
    created_by: str
    created_at: datetime


class RunCreate(Strict):
    business_date: date


class RunRead(msgspec.Struct):
    id: str
    business_date: date
    status: str
    settlements: int
    created_at: datetime
    finished_at: datetime | None


class SettlementRead(msgspec.Struct):
    id: str
    partner_id: str
    scenario: str
    business_date: date
    seq: int
    count: int
    gross: int
    refunds: int
    fees: int
    fee_bps: int
    subsidies: int
    escrow: int
    held: int
    net: int
    carried_in: int
    payout: int
    payout_status: str
    payout_error: str | None
    paid_at: datetime | None
    created_at: datetime
    currency: str = CURRENCY


class ReconciliationRead(msgspec.Struct):
    id: str
    business_date: date
    lines: int
    matched: int
    bank_only: int
    partner_only: int
    amount_mismatch: int
    created_at: datetime


class ExceptionRead(msgspec.Struct):
    id: str
    file_id: str
    partner_id: str
    kind: str
    reference: str
    txn_id: str | None
    gateway_amount: int | None
    file_amount: int | None
    difference: int
    status: str
    note: str | None
    resolved_by: str | None
    created_at: datetime


class ResolveCreate(Strict):
    note: Annotated[str, msgspec.Meta(min_length=1, max_length=2000)]
