from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from gateway.db import UTCDateTime, utcnow


class BatchStatus(StrEnum):
    QUEUED = "queued"
    PROCESSING = "processing"
    COMPLETED = "completed"
    COMPLETED_WITH_ERRORS = "completed_with_errors"
    FAILED = "failed"


class ItemStatus(StrEnum):
    PENDING = "pending"
    OPENED = "opened"
    EXISTING = "existing"
    REJECTED = "rejected"


class Customer(SQLModel, table=True):
    """One person, across every partner: the resident ID's blind index is unique."""

    __tablename__ = "customers"

    id: str = Field(primary_key=True, max_length=40)
    id_index: str = Field(max_length=64, unique=True)
    phone_index: str = Field(max_length=64, index=True)
    name: str = Field(sa_type=sa.Text)
    id_number: str = Field(sa_type=sa.Text)
    phone: str = Field(sa_type=sa.Text)
    account_no: str = Field(sa_type=sa.Text)
    birth_date: date
    acquired_by: str | None = Field(default=None, max_length=40)  # no query reads by it
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class CustomerLink(SQLModel, table=True):
    """A partner's relationship with a customer, under the partner's own reference."""

    __tablename__ = "customer_links"
    __table_args__ = (sa.UniqueConstraint("partner_id", "external_ref"),)

    partner_id: str = Field(primary_key=True, max_length=40)
    customer_id: str = Field(
        primary_key=True, foreign_key="customers.id", max_length=40, index=True
    )
    external_ref: str | None = Field(default=None, max_length=128)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Touchpoint(SQLModel, table=True):
    """Every opening through a channel; the first one that created the customer acquired it."""

    __tablename__ = "touchpoints"

    id: str = Field(primary_key=True, max_length=40)
    customer_id: str = Field(foreign_key="customers.id", max_length=40, index=True)
    partner_id: str = Field(max_length=40)
    scenario: str = Field(max_length=40)
    sub_channel: str | None = Field(default=None, max_length=80)
    campaign: str | None = Field(default=None, max_length=80)
    referral_code: str | None = Field(default=None, max_length=40)
    kind: str = Field(max_length=16)  # opened | existing
    batch_id: str | None = Field(default=None, max_length=40)
    context: dict[str, Any] | None = Field(default=None, sa_type=sa.JSON)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class AccountBatch(SQLModel, table=True):
    __tablename__ = "account_batches"

    id: str = Field(primary_key=True, max_length=40)
    partner_id: str = Field(max_length=40, index=True)
    scenario: str = Field(max_length=40)
    sub_channel: str | None = Field(default=None, max_length=80)
    campaign: str | None = Field(default=None, max_length=80)
    status: str = Field(default=BatchStatus.QUEUED, max_length=24)
    total: int = 0
    processed: int = 0
    opened: int = 0
    existing: int = 0
    rejected: int = 0
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    completed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class AccountBatchItem(SQLModel, table=True):
    """One row of a batch. The submitted row is kept encrypted until it is processed.

    Rows are read by status in row order: a chunk claims the next pending rows, a partner pages
    through ``?status=``. The status index serves both from the first matching row; the primary
    key alone made each chunk read and sort the whole batch (70 ms a chunk at 100,000 rows).
    """

    __tablename__ = "account_batch_items"
    __table_args__ = (sa.Index("ix_account_batch_items_status", "batch_id", "status", "row"),)

    batch_id: str = Field(primary_key=True, foreign_key="account_batches.id", max_length=40)
    row: int = Field(primary_key=True)
    external_ref: str | None = Field(default=None, max_length=128)
    id_index: str | None = Field(default=None, max_length=64)
    payload: str = Field(sa_type=sa.Text)
    status: str = Field(default=ItemStatus.PENDING, max_length=16)
    customer_id: str | None = Field(default=None, max_length=40)
    error_code: str | None = Field(default=None, max_length=64)
    error_message: str | None = Field(default=None, max_length=500)
