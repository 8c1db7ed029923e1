from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from gateway.db import UTCDateTime, utcnow


class TxnStatus(StrEnum):
    SUCCEEDED = "succeeded"
    PENDING = "pending"
    FAILED = "failed"
    REVERSED = "reversed"


class Transaction(SQLModel, table=True):
    """Every money movement a scenario makes, in one table settlement and risk can read.

    ``amount`` is the gross the partner is settled on; ``subsidy`` what a campaign paid of it;
    the customer was charged the difference. ``refunded`` is how much of a payment later
    refunds (their own rows, ``kind="refund"``, ``related_id`` = the payment) have given back.
    """

    __tablename__ = "transactions"
    __table_args__ = (
        sa.UniqueConstraint("partner_id", "external_ref"),
        sa.CheckConstraint("amount > 0", name="amount_positive"),
        sa.CheckConstraint("subsidy >= 0 AND subsidy <= amount", name="subsidy_within_amount"),
        sa.CheckConstraint("refunded >= 0 AND refunded <= amount", name="refunded_within_amount"),
        sa.Index("ix_transactions_partner_day", "partner_id", "scenario", "business_date"),
    )

    id: str = Field(primary_key=True, max_length=40)
    partner_id: str = Field(max_length=40)
    scenario: str = Field(max_length=40)
    kind: str = Field(max_length=40)
    status: str = Field(max_length=16)
    customer_id: str | None = Field(default=None, max_length=40, index=True)
    sub_channel: str | None = Field(default=None, max_length=80)
    campaign_id: str | None = Field(default=None, max_length=40)
    amount: int = Field(sa_type=sa.BigInteger)
    subsidy: int = Field(default=0, sa_type=sa.BigInteger)
    refunded: int = Field(default=0, sa_type=sa.BigInteger)
    reference: str = Field(max_length=200, unique=True)
    core_reference: str | None = Field(default=None, max_length=120)
    related_id: str | None = Field(default=None, max_length=40)
    # Set, in one transaction with the settlement row, when a settlement takes the transaction.
    settlement_id: str | None = Field(default=None, max_length=40, index=True)
    external_ref: str | None = Field(default=None, max_length=128)
    occurred_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    business_date: date
