"""Incentive tables: every accrual, and each partner's effective volume per month (tiers)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from gateway.db import UTCDateTime, utcnow


class IncentiveStatus(StrEnum):
    ACCRUED = "accrued"  # journaled: owed to the partner
    HELD = "held"  # earned while a risk case was open: not journaled until released
    CLAWED_BACK = "clawed_back"


class ChannelIncentive(SQLModel, table=True):
    """One accrual to a partner for one customer (a bounty, or one revenue-share slice)."""

    __tablename__ = "channel_incentives"
    __table_args__ = (
        sa.CheckConstraint("amount > 0", name="amount_positive"),
        sa.UniqueConstraint("customer_id", "basis"),
    )

    id: str = Field(primary_key=True, max_length=40)
    customer_id: str = Field(max_length=40, index=True)
    partner_id: str = Field(max_length=40, index=True)
    scheme: str = Field(max_length=40)
    # What earned it, unique per customer: "effective" for a bounty, "txn:<id>" for a share.
    basis: str = Field(max_length=60)
    amount: int = Field(sa_type=sa.BigInteger)
    status: str = Field(max_length=16)
    accrued_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    clawed_back_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    reason: str | None = Field(default=None, max_length=500)


class ChannelIncentiveMonth(SQLModel, table=True):
    """How many customers became effective for a partner in one Asia/Shanghai month: the
    counter ``most_favored`` tiers read, moved by one atomic upsert per new effective customer."""

    __tablename__ = "channel_incentive_months"

    partner_id: str = Field(primary_key=True, max_length=40)
    month: str = Field(primary_key=True, max_length=7)
    effective: int = 0
