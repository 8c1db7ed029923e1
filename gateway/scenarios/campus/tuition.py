"""Tuition bills: issued in bulk by student number, paid from the student's bank account."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from gateway.core_banking import CoreBanking
from gateway.db import utcnow
from gateway.errors import Conflict, FieldError, ValidationFailed
from gateway.ids import new_id
from gateway.partners.ownership import owned
from gateway.pii import PiiVault
from gateway.scenarios.campus.models import BillStatus, CampusCard, Role, TuitionBill
from gateway.scenarios.campus.schemas import TuitionBillIn
from gateway.scenarios.campus.service import KEY
from gateway.scenarios.models import Transaction
from gateway.scenarios.payments import collect, payer_for


async def issue_bills(
    session: AsyncSession, partner_id: str, items: list[TuitionBillIn]
) -> list[TuitionBill]:
    """All bills or none: each names a student of the university by student number."""
    numbers = {i.student_no for i in items}
    cards = {
        c.student_no: c
        for c in (
            await session.scalars(
                select(CampusCard).where(
                    col(CampusCard.partner_id) == partner_id,
                    col(CampusCard.student_no).in_(numbers),
                )
            )
        ).all()
    }
    errors: list[FieldError] = []
    for n, item in enumerate(items):
        card = cards.get(item.student_no)
        if card is None:
            errors.append(FieldError(f"items[{n}].student_no", "not_found", "No such student."))
        elif card.role != Role.STUDENT:
            errors.append(
                FieldError(f"items[{n}].student_no", "not_a_student", "Staff pay no tuition.")
            )
    if errors:
        raise ValidationFailed("Some bills name unknown students.", errors=errors)
    bills = [
        TuitionBill(
            id=new_id("bil"),
            partner_id=partner_id,
            card_id=cards[i.student_no].id,
            customer_id=cards[i.student_no].customer_id,
            student_no=i.student_no,
            item=i.item,
            term=i.term,
            amount=i.amount,
            due_date=i.due_date,
            external_ref=i.external_ref,
        )
        for i in items
    ]
    session.add_all(bills)
    try:
        await session.flush()
    except IntegrityError as e:
        raise Conflict(
            "A bill for that student, item and term (or with that external_ref) exists.",
            code="bill_duplicate",
        ) from e
    return bills


async def pay_bill(
    session: AsyncSession,
    vault: PiiVault,
    core: CoreBanking,
    *,
    partner_id: str,
    bill_id: str,
    reference: str,
) -> tuple[TuitionBill, Transaction]:
    """Pay a bill in full from the student's bank account; the university is owed it.

    The bill is marked paid before the core is asked (a conditional UPDATE, which also holds the
    row), so two concurrent payments cannot both debit; a declined debit rolls the mark back.
    """
    bill = await owned(session, TuitionBill, bill_id, partner_id)
    marked = await session.execute(
        sa.update(TuitionBill)
        .where(col(TuitionBill.id) == bill.id, col(TuitionBill.status) == BillStatus.UNPAID.value)
        .values(status=BillStatus.PAID.value, paid_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if marked.rowcount != 1:  # type: ignore[attr-defined]
        raise Conflict("The bill is already paid.", code="bill_already_paid")
    payer = await payer_for(session, vault, partner_id, bill.customer_id)
    txn = await collect(
        session,
        core,
        partner_id=partner_id,
        scenario=KEY,
        kind="tuition",
        payer=payer,
        amount=bill.amount,
        reference=reference,
        purpose=f"{bill.item} {bill.term}",
        external_ref=bill.id,
        details={"bill_id": bill.id, "student_no": bill.student_no, "term": bill.term},
    )
    await session.refresh(bill)
    bill.txn_id = txn.id
    await session.flush()
    return bill, txn
