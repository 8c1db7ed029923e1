"""Posting journals and deriving balances.

Every journal is checked before anything is written (at least two lines, no zero amount, a known
account on each line, a sum of exactly zero), and its reference makes posting idempotent: the
same reference with the same lines returns the journal already posted. Services only flush; the
caller's transaction commits the journal together with the change that caused it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, NamedTuple

import sqlalchemy as sa
import structlog
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from gateway.clock import business_date_of
from gateway.db import insert_once, table_of, utcnow
from gateway.errors import BusinessRuleViolation, Conflict
from gateway.ids import new_id
from gateway.money import Fen
from gateway.settlement.ledger.accounts import account_type
from gateway.settlement.ledger.models import LedgerEntry, LedgerJournal

# Whole fen a JSON client reading numbers as doubles still gets exactly (¥90 trillion).
MAX_AMOUNT = 2**53
MAX_KIND_LENGTH = 40
MAX_REFERENCE_LENGTH = 200
log = structlog.get_logger(__name__)
_JOURNALS = table_of(LedgerJournal)
_INSERT_ENTRIES = sa.insert(table_of(LedgerEntry))


class Line(NamedTuple):
    """One line of a journal to post: ``Line(account, amount)`` (a plain tuple works too)."""

    account: str
    amount: Fen


@dataclass(frozen=True, slots=True)
class TrialBalance:
    as_of: datetime
    balances: dict[str, Fen]
    total: Fen


class InvalidJournal(BusinessRuleViolation):
    """The lines do not make a journal; raised before anything is written."""

    code = "journal_invalid"


class JournalConflict(Conflict):
    """The reference was already posted with different lines (or another kind)."""

    code = "journal_reference_conflict"


def _checked(reference: str, kind: str, lines: Sequence[tuple[str, Fen]]) -> list[Line]:
    if not reference or len(reference) > MAX_REFERENCE_LENGTH:
        raise InvalidJournal(f"A journal reference is 1 to {MAX_REFERENCE_LENGTH} characters.")
    if not kind or len(kind) > MAX_KIND_LENGTH:
        raise InvalidJournal(f"A journal kind is 1 to {MAX_KIND_LENGTH} characters.")
    if len(lines) < 2:
        raise InvalidJournal("A journal has at least two lines.", code="journal_too_few_lines")
    checked = [Line(acc, amount) for acc, amount in lines]
    for acc, amount in checked:
        try:
            account_type(acc)
        except ValueError as e:
            raise InvalidJournal(str(e), code="journal_unknown_account") from e
        if type(amount) is not int or amount == 0 or abs(amount) > MAX_AMOUNT:
            raise InvalidJournal(
                f"Line amounts are non-zero whole fen within ±2^53, not {amount!r} on {acc}.",
                code="journal_invalid_amount",
            )
    total = sum(amount for _, amount in checked)
    if total != 0:
        raise InvalidJournal(
            f"A journal's lines sum to zero; these sum to {total}.", code="journal_unbalanced"
        )
    return checked


async def post_journal(
    session: AsyncSession,
    *,
    reference: str,
    kind: str,
    lines: Sequence[tuple[str, Fen]],
    occurred_at: datetime | None = None,
    business_date: date | None = None,
    txn_id: str | None = None,
    partner_id: str | None = None,
    scenario: str | None = None,
) -> LedgerJournal:
    """Post a balanced journal once per ``reference``, in the caller's transaction.

    Posting a reference again returns the first journal and writes nothing when ``kind`` and the
    lines (in any order) match, so a retried job cannot move money twice; anything else raises
    :class:`JournalConflict`. ``business_date`` defaults to the Shanghai date of ``occurred_at``
    (itself defaulting to now).
    """
    checked = _checked(reference, kind, lines)
    occurred_at = occurred_at or utcnow()
    if occurred_at.tzinfo is None:
        raise ValueError("naive datetime given for occurred_at")
    values: dict[str, Any] = {
        "id": new_id("jnl"),
        "reference": reference,
        "kind": kind,
        "txn_id": txn_id,
        "partner_id": partner_id,
        "scenario": scenario,
        "business_date": business_date or business_date_of(occurred_at),
        "occurred_at": occurred_at,
        "created_at": utcnow(),
    }
    # ON CONFLICT (reference) DO NOTHING: of two concurrent posts of one reference, the second
    # waits for the first and inserts nothing. Core statements built once: journals are posted
    # inside every payment (docs/performance.md).
    inserted = await session.scalar(
        insert_once(session.get_bind().dialect.name, _JOURNALS, "reference", "id"), values
    )
    if inserted is None:
        return await _already_posted(session, reference, kind, checked)
    journal = LedgerJournal(**values)
    await session.execute(
        _INSERT_ENTRIES,
        [
            {
                "journal_id": journal.id,
                "line": n,
                "account": acc,
                "amount": amount,
                "occurred_at": occurred_at,
            }
            for n, (acc, amount) in enumerate(checked, start=1)
        ],
    )
    log.info("ledger.journal_posted", journal_id=journal.id, reference=reference, kind=kind)
    return journal


async def _already_posted(
    session: AsyncSession, reference: str, kind: str, lines: list[Line]
) -> LedgerJournal:
    existing = await find_journal(session, reference)
    if existing is None:
        # ON CONFLICT only skips a row the transaction can see once it has committed (PostgreSQL
        # raises a serialization error instead above READ COMMITTED; SQLite has one writer).
        raise RuntimeError(f"journal {reference!r} conflicted but cannot be read")
    if existing.kind != kind or sorted(await journal_lines(session, existing.id)) != sorted(lines):
        raise JournalConflict(
            f"Journal {reference!r} was already posted with other lines or another kind."
        )
    return existing


async def find_journal(session: AsyncSession, reference: str) -> LedgerJournal | None:
    result = await session.scalars(
        select(LedgerJournal).where(col(LedgerJournal.reference) == reference)
    )
    return result.one_or_none()


async def journal_lines(session: AsyncSession, journal_id: str) -> list[Line]:
    """A posted journal's lines, in the order they were posted."""
    rows = await session.execute(
        select(col(LedgerEntry.account), col(LedgerEntry.amount))
        .where(col(LedgerEntry.journal_id) == journal_id)
        .order_by(col(LedgerEntry.line))
    )
    return [Line(acc, amount) for acc, amount in rows]


def _sum_of_amounts() -> sa.Cast[int]:
    # PostgreSQL widens SUM(bigint) to numeric; cast back so both engines answer an int.
    return sa.cast(sa.func.coalesce(sa.func.sum(col(LedgerEntry.amount)), 0), sa.BigInteger)


async def balance(session: AsyncSession, account: str, as_of: datetime | None = None) -> Fen:
    """An account's balance (debit positive) from entries that occurred up to ``as_of``."""
    stmt = select(_sum_of_amounts()).where(col(LedgerEntry.account) == account)
    if as_of is not None:
        stmt = stmt.where(col(LedgerEntry.occurred_at) <= as_of)
    return (await session.scalars(stmt)).one()


async def balances(
    session: AsyncSession, prefix: str | None = None, as_of: datetime | None = None
) -> dict[str, Fen]:
    """Non-zero balances by account (sorted), optionally only accounts whose code starts with
    ``prefix``; an account missing from the answer has a balance of zero."""
    total = _sum_of_amounts()
    stmt = (
        select(col(LedgerEntry.account), total)
        .group_by(col(LedgerEntry.account))
        .having(total != 0)
        .order_by(col(LedgerEntry.account))
    )
    if prefix is not None:
        stmt = stmt.where(col(LedgerEntry.account).startswith(prefix, autoescape=True))
    if as_of is not None:
        stmt = stmt.where(col(LedgerEntry.occurred_at) <= as_of)
    return dict((await session.execute(stmt)).all())


async def trial_balance(session: AsyncSession, as_of: datetime | None = None) -> TrialBalance:
    """Every non-zero balance as of a moment (default now), summed by the database per account.

    ``total`` is zero unless entries were written around :func:`post_journal`; that is logged
    as an error, not hidden.
    """
    as_of = as_of or utcnow()
    by_account = await balances(session, as_of=as_of)
    total = sum(by_account.values())
    if total != 0:
        log.error("ledger.trial_balance_unbalanced", as_of=as_of.isoformat(), total=total)
    return TrialBalance(as_of=as_of, balances=by_account, total=total)
