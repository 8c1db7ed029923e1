"""Campus tables: cards (one per student or staff number), merchants, card activity, tuition."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from gateway.db import UTCDateTime, utcnow

# A campus card holds at most ¥1,000 (DESIGN §9); the database refuses anything else too.
CARD_BALANCE_CAP = 100_000


class Role(StrEnum):
    STUDENT = "student"
    STAFF = "staff"


class CardStatus(StrEnum):
    ACTIVE = "active"
    FROZEN = "frozen"  # reported lost: no payments until unfrozen
    CLOSED = "closed"  # withdrawn on graduation or departure: nothing moves any more


class MerchantType(StrEnum):
    CANTEEN = "canteen"
    SHOP = "shop"
    SERVICE = "service"


class BillStatus(StrEnum):
    UNPAID = "unpaid"
    PAID = "paid"


class CampusCard(SQLModel, table=True):
    """A closed-loop card of one university (the partner) held by one customer.

    ``balance`` is the cardholder's money on the card: the ledger's ``card_float:<partner>`` is
    the sum of every card's balance. It only changes under the card's row lock.
    """

    __tablename__ = "campus_cards"
    __table_args__ = (
        sa.UniqueConstraint("partner_id", "student_no"),
        sa.CheckConstraint(f"balance >= 0 AND balance <= {CARD_BALANCE_CAP}", name="balance_cap"),
        sa.CheckConstraint("role IN ('student', 'staff')", name="role_known"),
        sa.CheckConstraint("status IN ('active', 'frozen', 'closed')", name="status_known"),
        sa.Index("ix_campus_cards_partner_role_status", "partner_id", "role", "status"),
    )

    id: str = Field(primary_key=True, max_length=40)
    partner_id: str = Field(max_length=40)
    customer_id: str = Field(foreign_key="customers.id", max_length=40, index=True)
    student_no: str = Field(max_length=32)
    role: str = Field(max_length=16)
    status: str = Field(default=CardStatus.ACTIVE, max_length=16)
    balance: int = Field(default=0, sa_type=sa.BigInteger)
    sub_channel: str | None = Field(default=None, max_length=80)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    closed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class CampusMerchant(SQLModel, table=True):
    """A canteen, shop or third-party service on campus: a sub-channel of the university."""

    __tablename__ = "campus_merchants"
    __table_args__ = (
        sa.UniqueConstraint("partner_id", "external_ref"),
        sa.CheckConstraint("type IN ('canteen', 'shop', 'service')", name="type_known"),
    )

    id: str = Field(primary_key=True, max_length=40)
    partner_id: str = Field(max_length=40, index=True)
    external_ref: str = Field(max_length=128)
    name: str = Field(max_length=200)
    type: str = Field(max_length=16)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class CardActivity(SQLModel, table=True):
    """What moved on a card, one row per transaction: the card's statement, with the merchant
    and terminal of a payment (risk counts cards and amounts per terminal and day)."""

    __tablename__ = "campus_card_activity"
    __table_args__ = (
        sa.CheckConstraint("amount > 0", name="amount_positive"),
        sa.Index(
            "ix_campus_card_activity_terminal_day", "merchant_id", "terminal_id", "business_date"
        ),
    )

    txn_id: str = Field(primary_key=True, foreign_key="transactions.id", max_length=40)
    card_id: str = Field(foreign_key="campus_cards.id", max_length=40, index=True)
    kind: str = Field(max_length=16)  # top_up | payment | withdrawal
    amount: int = Field(sa_type=sa.BigInteger)
    balance_after: int = Field(sa_type=sa.BigInteger)
    merchant_id: str | None = Field(default=None, max_length=40)
    terminal_id: str | None = Field(default=None, max_length=64)
    business_date: date
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class TuitionBill(SQLModel, table=True):
    """A term's tuition (or accommodation) bill of one student, paid from the student's account."""

    __tablename__ = "campus_tuition_bills"
    __table_args__ = (
        sa.UniqueConstraint("card_id", "item", "term"),
        sa.UniqueConstraint("partner_id", "external_ref"),
        sa.CheckConstraint("amount > 0", name="amount_positive"),
    )

    id: str = Field(primary_key=True, max_length=40)
    partner_id: str = Field(max_length=40, index=True)
    card_id: str = Field(foreign_key="campus_cards.id", max_length=40, index=True)
    customer_id: str = Field(max_length=40)
    student_no: str = Field(max_length=32)
    item: str = Field(max_length=16)
    term: str = Field(max_length=32)
    amount: int = Field(sa_type=sa.BigInteger)
    due_date: date
    external_ref: str | None = Field(default=None, max_length=128)
    status: str = Field(default=BillStatus.UNPAID, max_length=16)
    txn_id: str | None = Field(default=None, max_length=40)
    paid_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
