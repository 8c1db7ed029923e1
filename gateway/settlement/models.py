"""Settlement tables: partner contracts, settlement runs, settlements and their held items,
and reconciliation files with their exceptions (DESIGN §10)."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from gateway.db import UTCDateTime, utcnow


class PartnerContract(SQLModel, table=True):
    """One version of a partner's commercial terms; the highest version whose
    ``effective_from`` is on or before a business date is the one in force that day.

    ``settlement_account_no`` (encrypted) is null while the partner is paid to the account it
    declared when it applied; a contract change may name another one.
    """

    __tablename__ = "partner_contracts"
    __table_args__ = (sa.UniqueConstraint("partner_id", "version"),)

    id: str = Field(primary_key=True, max_length=40)
    partner_id: str = Field(foreign_key="partners.id", max_length=40, index=True)
    version: int
    fee_bps: dict[str, int] = Field(sa_type=sa.JSON)
    cycle_days: int = 1
    incentive_scheme: str = Field(max_length=40)
    settlement_account_name: str | None = Field(default=None, max_length=200)
    settlement_account_no: str | None = Field(default=None, sa_type=sa.Text)
    effective_from: date
    created_by: str = Field(max_length=120)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class RunStatus(StrEnum):
    RUNNING = "running"
    COMPLETED = "completed"


class SettlementRun(SQLModel, table=True):
    """One request to settle up to a business date. ``active`` is true only while the run is in
    progress and unique, so two replicas can never run at once: the second one finds the first."""

    __tablename__ = "settlement_runs"

    id: str = Field(primary_key=True, max_length=40)
    business_date: date
    status: str = Field(default=RunStatus.RUNNING, max_length=16)
    active: bool | None = Field(default=True, unique=True)
    requested_by: str = Field(max_length=120)
    settlements: int = 0
    heartbeat_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class PayoutStatus(StrEnum):
    PENDING = "pending"
    PAID = "paid"
    FAILED = "failed"


class Settlement(SQLModel, table=True):
    """What one partner is paid for one scenario up to a business date.

    ``net`` = gross − refunds − fees. A negative amount is not collected: it is carried into the
    partner's next settlement of the scenario (``carried_in``) and ``payout`` is never negative.
    """

    __tablename__ = "settlements"
    __table_args__ = (sa.UniqueConstraint("partner_id", "scenario", "business_date", "seq"),)

    id: str = Field(primary_key=True, max_length=40)
    run_id: str = Field(foreign_key="settlement_runs.id", max_length=40, index=True)
    partner_id: str = Field(foreign_key="partners.id", max_length=40)
    scenario: str = Field(max_length=40)
    business_date: date = Field(index=True)
    seq: int = 1
    contract_version: int
    fee_bps: int
    count: int = 0
    gross: int = Field(default=0, sa_type=sa.BigInteger)
    refunds: int = Field(default=0, sa_type=sa.BigInteger)
    fees: int = Field(default=0, sa_type=sa.BigInteger)
    subsidies: int = Field(default=0, sa_type=sa.BigInteger)
    escrow: int = Field(default=0, sa_type=sa.BigInteger)
    held: int = Field(default=0, sa_type=sa.BigInteger)
    net: int = Field(default=0, sa_type=sa.BigInteger)
    carried_in: int = Field(default=0, sa_type=sa.BigInteger)
    payout: int = Field(default=0, sa_type=sa.BigInteger)
    payout_status: str = Field(default=PayoutStatus.PENDING, max_length=16)
    payout_attempt: int = 0
    payout_error: str | None = Field(default=None, max_length=80)
    paid_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class SettlementHeldItem(SQLModel, table=True):
    """A transaction that was due but held back (a risk hold) when a settlement was made."""

    __tablename__ = "settlement_held_items"

    settlement_id: str = Field(foreign_key="settlements.id", primary_key=True, max_length=40)
    txn_id: str = Field(primary_key=True, max_length=40)
    amount: int = Field(sa_type=sa.BigInteger)


class MatchStatus(StrEnum):
    MATCHED = "matched"
    BANK_ONLY = "bank_only"
    PARTNER_ONLY = "partner_only"
    AMOUNT_MISMATCH = "amount_mismatch"


class ReconciliationFile(SQLModel, table=True):
    __tablename__ = "reconciliation_files"

    id: str = Field(primary_key=True, max_length=40)
    partner_id: str = Field(foreign_key="partners.id", max_length=40, index=True)
    source: str = Field(max_length=16)
    business_date: date
    lines: int
    matched: int
    bank_only: int
    partner_only: int
    amount_mismatch: int
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class ExceptionStatus(StrEnum):
    OPEN = "open"
    RESOLVED = "resolved"


class ReconciliationException(SQLModel, table=True):
    """A difference between a file and the gateway, parked in ``suspense`` until resolved.

    ``difference`` = the gateway's amount − the file's amount (a missing side counts as 0).
    """

    __tablename__ = "reconciliation_exceptions"

    id: str = Field(primary_key=True, max_length=40)
    file_id: str = Field(foreign_key="reconciliation_files.id", max_length=40, index=True)
    partner_id: str = Field(max_length=40)
    kind: str = Field(max_length=16)
    reference: str = Field(max_length=200)
    txn_id: str | None = Field(default=None, max_length=40)
    gateway_amount: int | None = Field(default=None, sa_type=sa.BigInteger)
    file_amount: int | None = Field(default=None, sa_type=sa.BigInteger)
    difference: int = Field(sa_type=sa.BigInteger)
    status: str = Field(default=ExceptionStatus.OPEN, max_length=16, index=True)
    note: str | None = Field(default=None, max_length=2000)
    resolved_by: str | None = Field(default=None, max_length=120)
    resolved_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
