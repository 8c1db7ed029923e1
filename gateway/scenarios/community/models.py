from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from gateway.db import UTCDateTime, utcnow


class BillStatus(StrEnum):
    UNPAID = "unpaid"
    PAID = "paid"
    CANCELLED = "cancelled"


class Community(SQLModel, table=True):
    """A residential community run by a property company: the scenario's sub-channel."""

    __tablename__ = "community_communities"
    __table_args__ = (sa.UniqueConstraint("partner_id", "external_ref"),)

    id: str = Field(primary_key=True, max_length=40)
    partner_id: str = Field(max_length=40, index=True)
    external_ref: str = Field(max_length=128)
    name: str = Field(max_length=200)
    address: str = Field(max_length=500)
    households: int
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class CommunityOwner(SQLModel, table=True):
    """An owner (a customer) living at a unit of a community."""

    __tablename__ = "community_owners"

    community_id: str = Field(
        primary_key=True, foreign_key="community_communities.id", max_length=40
    )
    customer_id: str = Field(primary_key=True, max_length=40)
    unit: str | None = Field(default=None, max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Bill(SQLModel, table=True):
    __tablename__ = "community_bills"
    __table_args__ = (
        sa.UniqueConstraint("community_id", "unit", "item", "period"),
        sa.CheckConstraint("amount > 0", name="amount_positive"),
        sa.Index("ix_community_bills_lookup", "community_id", "period", "status"),
    )

    id: str = Field(primary_key=True, max_length=40)
    partner_id: str = Field(max_length=40, index=True)
    community_id: str = Field(foreign_key="community_communities.id", max_length=40)
    unit: str = Field(max_length=64)
    customer_id: str = Field(max_length=40)
    item: str = Field(max_length=16)
    period: str = Field(max_length=7)
    amount: int = Field(sa_type=sa.BigInteger)
    due_date: date
    status: str = Field(default=BillStatus.UNPAID, max_length=16)
    txn_id: str | None = Field(default=None, max_length=40)
    paid_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
