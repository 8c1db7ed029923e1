from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from gateway.db import UTCDateTime, utcnow


class PaymentStatus(StrEnum):
    SUCCEEDED = "succeeded"
    PENDING = "pending"
    REVERSED = "reversed"
    FAILED = "failed"


class AgreementStatus(StrEnum):
    ACTIVE = "active"
    CANCELLED = "cancelled"


class DebitStatus(StrEnum):
    NOTIFIED = "notified"
    DEBITED = "debited"
    SKIPPED = "skipped"


class UtilityPayment(SQLModel, table=True):
    """A bill payment: the customer's debit (``txn_id``) and its write-off at the biller.

    ``id`` is the reference the biller writes off under (and the debit's ``external_ref``), so
    the biller's reconciliation file names it. ``pending`` until the biller's outcome is known;
    ``reversed`` when the write-off definitely failed and the debit was given back.
    """

    __tablename__ = "utilities_payments"
    __table_args__ = (
        sa.UniqueConstraint("partner_id", "request_ref"),
        sa.CheckConstraint("amount > 0", name="amount_positive"),
        sa.Index("ix_utilities_payments_status", "status", "created_at"),
    )

    id: str = Field(primary_key=True, max_length=40)
    partner_id: str = Field(max_length=40, index=True)
    biller_id: str = Field(max_length=40)
    customer_id: str = Field(max_length=40)
    account_no: str = Field(max_length=32)
    bill_key: str = Field(max_length=64)
    amount: int = Field(sa_type=sa.BigInteger)
    status: str = Field(default=PaymentStatus.PENDING, max_length=16)
    request_ref: str = Field(max_length=300)
    agreement_id: str | None = Field(default=None, max_length=40)
    txn_id: str | None = Field(default=None, max_length=40)
    reversal_txn_id: str | None = Field(default=None, max_length=40)
    biller_reference: str | None = Field(default=None, max_length=64)
    error_code: str | None = Field(default=None, max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    resolved_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class UtilityAgreement(SQLModel, table=True):
    """Auto-debit (代扣): pay ``account_no``'s bills from the customer, each up to ``cap``."""

    __tablename__ = "utilities_agreements"
    __table_args__ = (
        sa.CheckConstraint("cap > 0", name="cap_positive"),
        sa.Index("ix_utilities_agreements_account", "partner_id", "account_no", "status"),
        sa.UniqueConstraint("partner_id", "external_ref"),
    )

    id: str = Field(primary_key=True, max_length=40)
    partner_id: str = Field(max_length=40, index=True)
    biller_id: str = Field(max_length=40)
    customer_id: str = Field(max_length=40)
    account_no: str = Field(max_length=32)
    cap: int = Field(sa_type=sa.BigInteger)
    status: str = Field(default=AgreementStatus.ACTIVE, max_length=16)
    external_ref: str | None = Field(default=None, max_length=128)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    cancelled_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class UtilityScheduledDebit(SQLModel, table=True):
    """One bill an agreement will pay: noticed first, debited no earlier than ``debit_at``."""

    __tablename__ = "utilities_scheduled_debits"
    __table_args__ = (sa.UniqueConstraint("agreement_id", "bill_key"),)

    id: str = Field(primary_key=True, max_length=40)
    agreement_id: str = Field(foreign_key="utilities_agreements.id", max_length=40)
    bill_key: str = Field(max_length=64)
    amount: int = Field(sa_type=sa.BigInteger)
    period: str | None = Field(default=None, max_length=7)
    status: str = Field(default=DebitStatus.NOTIFIED, max_length=16)
    notice_event_id: str | None = Field(default=None, max_length=40)
    notified_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    debit_at: datetime = Field(sa_type=UTCDateTime)
    payment_id: str | None = Field(default=None, max_length=40)
    skip_reason: str | None = Field(default=None, max_length=64)
    attempts: int = Field(default=0)
