"""Ledger tables: journals and their entries. Rows are only ever inserted; a mistake is corrected
by posting a reversing journal, so every balance at every past moment can be recomputed."""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from gateway.db import UTCDateTime, utcnow


class LedgerJournal(SQLModel, table=True):
    """One money movement. ``reference`` is the poster's idempotent key (unique)."""

    __tablename__ = "ledger_journals"

    id: str = Field(primary_key=True, max_length=40)
    reference: str = Field(max_length=200, unique=True)
    kind: str = Field(max_length=40)
    txn_id: str | None = Field(default=None, max_length=40, index=True)
    partner_id: str | None = Field(default=None, max_length=40)
    scenario: str | None = Field(default=None, max_length=40)
    business_date: date
    occurred_at: datetime = Field(sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class LedgerEntry(SQLModel, table=True):
    """One signed line of a journal (debit positive, credit negative, never zero).

    ``occurred_at`` repeats the journal's so a balance, as of any moment, is one range scan of the
    ``(account, occurred_at, amount)`` index, which covers the query: no join, no table lookup.
    """

    __tablename__ = "ledger_entries"
    __table_args__ = (
        sa.CheckConstraint("amount <> 0", name="amount_nonzero"),
        sa.Index("ix_ledger_entries_balance", "account", "occurred_at", "amount"),
    )

    journal_id: str = Field(foreign_key="ledger_journals.id", primary_key=True, max_length=40)
    line: int = Field(primary_key=True)
    account: str = Field(max_length=120)
    amount: int = Field(sa_type=sa.BigInteger)
    occurred_at: datetime = Field(sa_type=UTCDateTime)
