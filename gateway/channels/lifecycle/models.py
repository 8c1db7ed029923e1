"""Lifecycle tables: one milestone row per customer, kept current as openings and transactions
arrive, and the marks that make applying a transaction happen exactly once."""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from gateway.db import UTCDateTime, utcnow

_REFERRED = sa.text("referrer_id IS NOT NULL")


class ChannelMilestone(SQLModel, table=True):
    """Where a customer came from and how far it got (DESIGN §7); reports group these columns.

    ``activation_days`` and ``effective_min_amount`` are the acquiring campaign's rule copied at
    opening, so applying a transaction never joins campaigns. ``window_amount`` is what the
    customer spent inside that window (refunds subtracted) until it became effective.
    """

    __tablename__ = "channel_milestones"
    __table_args__ = (
        sa.Index("ix_channel_milestones_partner_opened", "partner_id", "opened_date"),
        sa.Index("ix_channel_milestones_opened", "opened_date"),
        # most customers came without a referrer: index only those who did
        sa.Index(
            "ix_channel_milestones_referrer",
            "referrer_id",
            postgresql_where=_REFERRED,
            sqlite_where=_REFERRED,
        ),
    )

    customer_id: str = Field(primary_key=True, foreign_key="customers.id", max_length=40)
    partner_id: str = Field(max_length=40)
    scenario: str = Field(max_length=40)
    sub_channel: str | None = Field(default=None, max_length=80)
    campaign: str | None = Field(default=None, max_length=80)
    referrer_id: str | None = Field(default=None, max_length=40)
    referral_code: str = Field(max_length=16, unique=True)
    opened_at: datetime = Field(sa_type=UTCDateTime)
    opened_date: date
    cohort_week: date
    cohort_month: str = Field(max_length=7)
    activation_days: int
    effective_min_amount: int = Field(sa_type=sa.BigInteger)
    activated_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    window_amount: int = Field(default=0, sa_type=sa.BigInteger)
    effective_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    retained_30d: bool = False
    retained_90d: bool = False
    last_active_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    referred: int = 0
    flagged: bool = False
    incentive_accrued: int = Field(default=0, sa_type=sa.BigInteger)
    incentive_clawed_back: int = Field(default=0, sa_type=sa.BigInteger)
    incentive_held: int = Field(default=0, sa_type=sa.BigInteger)
    value_tier: str | None = Field(default=None, max_length=16)
    # When the acquiring partner was told of the MOT "14 days opened, inactive" (once) and of
    # the latest dormancy (again after each return), so the daily pass is idempotent.
    inactive_notified_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    dormant_notified_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class ChannelAppliedTransaction(SQLModel, table=True):
    """A transaction already applied to milestones: inserted in the same database transaction as
    its effects, so a re-run job (or two racing ones) applies it once."""

    __tablename__ = "channel_applied_transactions"

    transaction_id: str = Field(primary_key=True, max_length=40)
    applied_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class ChannelEvent(SQLModel, table=True):
    """A lifecycle signal a partner reported (``POST /v1/events``), e.g. ``app_login``."""

    __tablename__ = "channel_events"
    __table_args__ = (sa.UniqueConstraint("partner_id", "external_ref"),)

    id: str = Field(primary_key=True, max_length=40)
    partner_id: str = Field(max_length=40)
    customer_id: str = Field(max_length=40, index=True)
    type: str = Field(max_length=40)
    external_ref: str | None = Field(default=None, max_length=128)
    occurred_at: datetime = Field(sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
