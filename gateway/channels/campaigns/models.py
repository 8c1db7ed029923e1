from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from gateway.db import UTCDateTime, utcnow

# What counts as an effective customer when a campaign does not say (DESIGN §7): activated within
# 30 days of opening with at least ¥100 of successful transactions.
DEFAULT_ACTIVATION_DAYS = 30
DEFAULT_EFFECTIVE_MIN_AMOUNT = 10_000


class CampaignStatus(StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"


class ProductType(StrEnum):
    PAYMENT = "payment"
    DEPOSIT = "deposit"
    CREDIT_CARD = "credit_card"
    CONSUMER_LOAN = "consumer_loan"


class SubsidyType(StrEnum):
    PERCENT = "percent"
    PER_LITRE = "per_litre"
    FIXED = "fixed"


class Campaign(SQLModel, table=True):
    """A budget and its rules. ``spent`` moves only through conditional updates in the service,
    and the check constraints keep it within ``0 … budget`` whatever a caller does."""

    __tablename__ = "campaigns"
    __table_args__ = (
        sa.CheckConstraint("budget > 0", name="budget_positive"),
        sa.CheckConstraint("spent >= 0", name="spent_not_negative"),
        sa.CheckConstraint("spent <= budget", name="spent_within_budget"),
        sa.CheckConstraint("ends_at > starts_at", name="ends_after_start"),
        # A subsidy is all four columns or none, so a half-configured one can never be drawn.
        sa.CheckConstraint(
            "(subsidy_type IS NULL AND subsidy_value IS NULL AND cap_per_txn IS NULL"
            " AND cap_per_customer_month IS NULL) OR (subsidy_type IS NOT NULL"
            " AND subsidy_value > 0 AND cap_per_txn > 0 AND cap_per_customer_month > 0)",
            name="subsidy_complete",
        ),
        sa.Index("ix_campaigns_lookup", "scenario", "status", "partner_id"),
    )

    id: str = Field(primary_key=True, max_length=40)
    name: str = Field(max_length=200)
    scenario: str = Field(max_length=40)
    partner_id: str | None = Field(default=None, foreign_key="partners.id", max_length=40)
    product_type: str = Field(max_length=20)
    status: str = Field(default=CampaignStatus.ACTIVE, max_length=16)
    budget: int = Field(sa_type=sa.BigInteger)
    spent: int = Field(default=0, sa_type=sa.BigInteger)
    subsidy_type: str | None = Field(default=None, max_length=16)
    subsidy_value: int | None = Field(default=None, sa_type=sa.BigInteger)
    cap_per_txn: int | None = Field(default=None, sa_type=sa.BigInteger)
    cap_per_customer_month: int | None = Field(default=None, sa_type=sa.BigInteger)
    activation_days: int = DEFAULT_ACTIVATION_DAYS
    effective_min_amount: int = Field(default=DEFAULT_EFFECTIVE_MIN_AMOUNT, sa_type=sa.BigInteger)
    starts_at: datetime = Field(sa_type=UTCDateTime)
    ends_at: datetime = Field(sa_type=UTCDateTime)
    created_by: str = Field(max_length=120)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class CampaignCustomerMonth(SQLModel, table=True):
    """How much subsidy one customer took from one campaign in one Asia/Shanghai month, for
    ``cap_per_customer_month``: one small row to lock instead of summing transactions."""

    __tablename__ = "campaign_customer_months"
    __table_args__ = (sa.CheckConstraint("used >= 0", name="used_not_negative"),)

    campaign_id: str = Field(primary_key=True, foreign_key="campaigns.id", max_length=40)
    customer_id: str = Field(primary_key=True, max_length=40)
    month: str = Field(primary_key=True, max_length=7, description="YYYY-MM, Asia/Shanghai")
    used: int = Field(default=0, sa_type=sa.BigInteger)
