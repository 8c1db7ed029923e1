"""Tables of the stored-value scenario: merchants under supervision, cards, card movements.

A card's ``balance`` is what its holder has prepaid and not yet consumed or been refunded (the
merchant's outstanding prepaid balance is the sum over its cards); the money itself sits in the
ledger account ``merchant_escrow:<partner_id>`` until a consumption releases it. The caps of
单用途商业预付卡管理办法 are check constraints too, so no code path can store a card past them.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from gateway.db import UTCDateTime, utcnow

NAMED_CAP = 5_000_00
ANONYMOUS_CAP = 1_000_00


class ProductType(StrEnum):
    STORED_VALUE = "stored_value"
    LESSON_PACKAGE = "lesson_package"
    MEMBERSHIP = "membership"


class CardStatus(StrEnum):
    ACTIVE = "active"
    CLOSED = "closed"


class MovementKind(StrEnum):
    TOP_UP = "top_up"
    RELEASE = "release"
    REFUND = "refund"
    WIND_DOWN_REFUND = "wind_down_refund"


class Merchant(SQLModel, table=True):
    """One row per supervised merchant: the lock every money movement of the merchant takes
    (the reserve rule spans all its cards) and, once wound down, the wind-down report."""

    __tablename__ = "stored_value_merchants"

    partner_id: str = Field(primary_key=True, max_length=40)
    wound_down_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    wound_down_by: str | None = Field(default=None, max_length=120)
    escrow_before: int | None = Field(default=None, sa_type=sa.BigInteger)
    outstanding_before: int | None = Field(default=None, sa_type=sa.BigInteger)
    refunded: int | None = Field(default=None, sa_type=sa.BigInteger)
    shortfall: int | None = Field(default=None, sa_type=sa.BigInteger)
    cards_refunded: int | None = None
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Card(SQLModel, table=True):
    __tablename__ = "stored_value_cards"
    __table_args__ = (
        sa.UniqueConstraint("partner_id", "external_ref"),
        sa.CheckConstraint("balance >= 0", name="balance_not_negative"),
        sa.CheckConstraint(f"balance <= {NAMED_CAP}", name="balance_within_named_cap"),
        sa.CheckConstraint(f"named OR balance <= {ANONYMOUS_CAP}", name="anonymous_within_cap"),
        sa.CheckConstraint("lessons_remaining >= 0", name="lessons_not_negative"),
    )

    id: str = Field(primary_key=True, max_length=40)
    partner_id: str = Field(max_length=40, index=True)
    customer_id: str = Field(max_length=40, index=True)
    external_ref: str | None = Field(default=None, max_length=128)
    named: bool
    product_type: str = Field(max_length=16)
    package_lessons: int | None = None
    package_term_months: int | None = None
    balance: int = Field(default=0, sa_type=sa.BigInteger)
    lessons_remaining: int = 0
    months_purchased: int = 0
    status: str = Field(default=CardStatus.ACTIVE, max_length=16)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Movement(SQLModel, table=True):
    """Every change of a card's balance, with the transaction that moved the money (none for a
    wind-down refund of zero when the escrow was empty). ``shortfall`` is what a wind-down could
    not pay back: the holder's remaining claim against the merchant."""

    __tablename__ = "stored_value_movements"
    __table_args__ = (
        sa.CheckConstraint("amount >= 0", name="amount_not_negative"),
        sa.Index("ix_stored_value_movements_card", "card_id", "occurred_at"),
        sa.Index("ix_stored_value_movements_partner", "partner_id", "kind", "occurred_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    card_id: str = Field(foreign_key="stored_value_cards.id", max_length=40)
    partner_id: str = Field(max_length=40)
    kind: str = Field(max_length=20)
    amount: int = Field(sa_type=sa.BigInteger)
    lessons: int = 0
    shortfall: int = Field(default=0, sa_type=sa.BigInteger)
    reason: str | None = Field(default=None, max_length=20)
    txn_id: str | None = Field(default=None, max_length=40)
    balance_after: int = Field(sa_type=sa.BigInteger)
    occurred_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
