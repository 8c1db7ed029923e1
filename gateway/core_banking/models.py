"""Sandbox core tables: the built-in core bank's accounts and the movements it recorded.

They simulate a bank's system of record, so account numbers are held in clear (the core needs
them to move money); the holder's name is kept masked because nothing in the sandbox reads it, and
the person is known only by the gateway's keyed blind index of the ID number.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from gateway.db import UTCDateTime, utcnow
from gateway.money import CURRENCY


class AccountKind(StrEnum):
    PERSONAL_CLASS_II = "personal_class_ii"
    INTERNAL = "internal"  # bank-side, e.g. a partner's settlement account: no Class II limits


class AccountStatus(StrEnum):
    ACTIVE = "active"
    FROZEN = "frozen"  # 只收不付: credits still land, nothing leaves


class MovementKind(StrEnum):
    DEBIT = "debit"
    CREDIT = "credit"
    TRANSFER = "transfer"


class SandboxAccount(SQLModel, table=True):
    """One account. ``id_number_hash`` is unique: one Class II account per person at this bank."""

    __tablename__ = "sandbox_accounts"
    __table_args__ = (sa.CheckConstraint("balance >= 0", name="balance_not_negative"),)

    account_no: str = Field(primary_key=True, max_length=19)
    reference: str = Field(max_length=100, unique=True)
    kind: str = Field(max_length=24)
    status: str = Field(default=AccountStatus.ACTIVE, max_length=16)
    customer_ref: str | None = Field(default=None, max_length=100)
    holder_name_masked: str = Field(max_length=200)
    id_number_hash: str | None = Field(default=None, max_length=64, unique=True)
    bound_account_no: str | None = Field(default=None, max_length=32)
    balance: int = Field(default=0, sa_type=sa.BigInteger)
    # Bumped by every movement before it reads the balance: the UPDATE takes the row lock on
    # PostgreSQL and the write lock on SQLite, so rule checks never see a stale balance.
    version: int = 0
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class SandboxMovement(SQLModel, table=True):
    """The recorded outcome of one instruction, failed ones included, so that re-sending a
    reference (or asking ``get_transfer``) always answers the first outcome.

    Account columns carry no foreign key: an instruction naming an unknown account is recorded
    too (as ``account_not_found``), and a transfer to a bound account may leave the bank.
    ``limited`` marks succeeded Class II outflows that count toward the day and year caps.
    """

    __tablename__ = "sandbox_movements"
    __table_args__ = (
        sa.CheckConstraint("amount > 0", name="amount_positive"),
        sa.CheckConstraint(
            "(status = 'failed') = (error_code IS NOT NULL)", name="error_code_iff_failed"
        ),
        sa.Index("ix_sandbox_movements_limits", "from_account", "business_date"),
    )

    core_reference: str = Field(primary_key=True, max_length=32)
    reference: str = Field(max_length=100, unique=True)
    kind: str = Field(max_length=16)
    from_account: str | None = Field(default=None, max_length=32)
    to_account: str | None = Field(default=None, max_length=32)
    amount: int = Field(sa_type=sa.BigInteger)
    currency: str = Field(default=CURRENCY, max_length=3)
    purpose: str = Field(max_length=200)
    status: str = Field(max_length=16)
    error_code: str | None = Field(default=None, max_length=40)
    limited: bool = False
    business_date: date
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
