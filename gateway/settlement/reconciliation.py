"""Reconciliation (DESIGN §10): a partner's or a biller's file for one business date, matched by
reference against what the gateway recorded.

Every line is ``matched``, ``amount_mismatch`` or ``partner_only`` (短款: the file has it, the
gateway does not); every gateway transaction of the day the file lacks is ``bank_only`` (长款).
Each difference is parked in ``suspense`` against ``core_clearing`` (挂账) until finance resolves
it with a note, which posts the reversing journal; the trial balance stays at zero throughout.
Refunds count negative on both sides; a reversed payment and its reversal are left out (they
cancel, and a biller never booked them).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from gateway import audit
from gateway.clock import business_date_of
from gateway.db import utcnow
from gateway.errors import Conflict, FieldError, NotFound, ValidationFailed
from gateway.ids import new_id
from gateway.scenarios.models import Transaction, TxnStatus
from gateway.settlement.ledger.accounts import AccountType, account
from gateway.settlement.ledger.service import post_journal
from gateway.settlement.models import (
    ExceptionStatus,
    MatchStatus,
    ReconciliationException,
    ReconciliationFile,
)

HEADER = ["reference", "amount", "occurred_at"]
MAX_LINES = 200_000


@dataclass(frozen=True, slots=True)
class FileLine:
    reference: str
    amount: int
    occurred_at: datetime


def parse_csv(raw: bytes) -> list[FileLine]:
    """The partner file format: header ``reference,amount,occurred_at``, amounts in signed fen,
    RFC 3339 times; every bad line is reported at once."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise ValidationFailed(
            "The file is not UTF-8.", errors=[FieldError("file", "encoding", "not UTF-8")]
        ) from e
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if header is None or [h.strip() for h in header] != HEADER:
        raise ValidationFailed(
            "The first line must be the header reference,amount,occurred_at.",
            errors=[FieldError("header", "header_invalid", ",".join(HEADER))],
        )
    lines: list[FileLine] = []
    errors: list[FieldError] = []
    seen: set[str] = set()
    for n, cells in enumerate(reader, start=2):
        if not any(c.strip() for c in cells):
            continue
        if len(lines) >= MAX_LINES:
            raise ValidationFailed(
                f"At most {MAX_LINES} lines.", errors=[FieldError("file", "too_many_lines", "")]
            )
        if len(cells) != len(HEADER):
            errors.append(FieldError(f"line {n}", "columns", "Three columns expected."))
            continue
        reference, amount, occurred = (c.strip() for c in cells)
        before = len(errors)
        if not reference or len(reference) > 200:
            errors.append(FieldError(f"line {n}.reference", "invalid", "1 to 200 characters."))
        elif reference in seen:
            errors.append(FieldError(f"line {n}.reference", "duplicate_reference", reference))
        if not amount.lstrip("-").isdigit() or int(amount) == 0:
            errors.append(FieldError(f"line {n}.amount", "invalid", "Non-zero integer fen."))
        moment = _moment(occurred)
        if moment is None:
            errors.append(FieldError(f"line {n}.occurred_at", "invalid", "RFC 3339 with offset."))
        if moment is not None and len(errors) == before:
            seen.add(reference)
            lines.append(FileLine(reference, int(amount), moment))
    if errors:
        raise ValidationFailed("The file has invalid lines.", errors=errors[:100])
    return lines


def _moment(text: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def _signed(txn: Transaction) -> int:
    return -txn.amount if txn.kind == "refund" else txn.amount


async def reconcile(
    session: AsyncSession, partner_id: str, source: str, business_date: date, lines: list[FileLine]
) -> ReconciliationFile:
    outside = [ln.reference for ln in lines if business_date_of(ln.occurred_at) != business_date]
    if outside:
        raise ValidationFailed(
            "Every line must fall on the file's business date (Asia/Shanghai).",
            errors=[FieldError("occurred_at", "outside_business_date", r) for r in outside[:100]],
        )
    recorded = (
        await session.scalars(
            select(Transaction).where(
                col(Transaction.partner_id) == partner_id,
                col(Transaction.business_date) == business_date,
                col(Transaction.status).in_([TxnStatus.SUCCEEDED.value, TxnStatus.REVERSED.value]),
            )
        )
    ).all()
    # A reversed payment and the refund that reversed it cancel out: neither side books them.
    reversed_ids = {t.id for t in recorded if t.status == TxnStatus.REVERSED.value}
    recorded = [
        t for t in recorded if t.id not in reversed_ids and t.related_id not in reversed_ids
    ]
    by_ref: dict[str, Transaction] = {}
    for txn in recorded:
        by_ref[txn.id] = txn
        if txn.external_ref:
            by_ref.setdefault(txn.external_ref, txn)
    file = ReconciliationFile(
        id=new_id("rcn"),
        partner_id=partner_id,
        source=source,
        business_date=business_date,
        lines=len(lines),
        matched=0,
        bank_only=0,
        partner_only=0,
        amount_mismatch=0,
    )
    session.add(file)
    await session.flush()
    seen: set[str] = set()
    for line in lines:
        found = by_ref.get(line.reference)
        if found is None:
            await _park(session, file, MatchStatus.PARTNER_ONLY, line.reference, None, line.amount)
            continue
        seen.add(found.id)
        if _signed(found) == line.amount:
            file.matched += 1
        else:
            await _park(
                session, file, MatchStatus.AMOUNT_MISMATCH, line.reference, found, line.amount
            )
    for txn in recorded:
        if txn.id not in seen:
            await _park(session, file, MatchStatus.BANK_ONLY, txn.id, txn, None)
    await session.flush()
    return file


async def _park(
    session: AsyncSession,
    file: ReconciliationFile,
    kind: MatchStatus,
    reference: str,
    txn: Transaction | None,
    file_amount: int | None,
) -> None:
    gateway_amount = _signed(txn) if txn is not None else None
    difference = (gateway_amount or 0) - (file_amount or 0)
    counter = {
        MatchStatus.PARTNER_ONLY: "partner_only",
        MatchStatus.BANK_ONLY: "bank_only",
        MatchStatus.AMOUNT_MISMATCH: "amount_mismatch",
    }[kind]
    setattr(file, counter, getattr(file, counter) + 1)
    exception = ReconciliationException(
        id=new_id("rcx"),
        file_id=file.id,
        partner_id=file.partner_id,
        kind=kind.value,
        reference=reference,
        txn_id=txn.id if txn else None,
        gateway_amount=gateway_amount,
        file_amount=file_amount,
        difference=difference,
    )
    session.add(exception)
    await _post_suspense(session, exception, f"rcx:{exception.id}", difference)


async def _post_suspense(
    session: AsyncSession, exception: ReconciliationException, reference: str, amount: int
) -> None:
    await post_journal(
        session,
        reference=reference,
        kind="reconciliation.suspense",
        lines=[
            (account(AccountType.SUSPENSE), amount),
            (account(AccountType.CORE_CLEARING), -amount),
        ],
        partner_id=exception.partner_id,
    )


async def resolve(
    session: AsyncSession, exception_id: str, note: str, actor: str
) -> ReconciliationException:
    """Close an exception with finance's note: its suspense entry is reversed, audited."""
    claimed = await session.execute(
        sa.update(ReconciliationException)
        .where(
            col(ReconciliationException.id) == exception_id,
            col(ReconciliationException.status) == ExceptionStatus.OPEN.value,
        )
        .values(
            status=ExceptionStatus.RESOLVED.value,
            note=note,
            resolved_by=actor,
            resolved_at=utcnow(),
        )
        .execution_options(synchronize_session=False)
    )
    exception = await session.get(ReconciliationException, exception_id, populate_existing=True)
    if exception is None:
        raise NotFound("No such reconciliation exception.")
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        raise Conflict("The exception is already resolved.", code="state_conflict")
    await _post_suspense(session, exception, f"rcx:{exception.id}:resolved", -exception.difference)
    audit.record(
        session,
        actor=actor,
        action="reconciliation_exception.resolved",
        subject_type="reconciliation_exception",
        subject_id=exception.id,
        before={"status": ExceptionStatus.OPEN.value},
        after={"status": ExceptionStatus.RESOLVED.value, "note": note},
    )
    await session.flush()
    return exception
