"""Utility bill payment (生活缴费): bill queries, payments written off at the biller, reversals.

A payment debits the customer first (the shared ``collect``), then asks the biller to write the
bill off under the payment's id. The biller's answer decides: written off → ``succeeded``
(``payment.succeeded``); a definite refusal, or no attempt reaching the biller → the debit is
given back (冲正, the shared ``refund``) and the payment is ``reversed`` (``payment.reversed``);
no usable answer after one may have reached it → ``pending``, and a job asks the biller by
reference until it knows (:func:`resolve`), never guessing.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import msgspec
import sqlalchemy as sa
import structlog
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from gateway.core_banking import CoreBanking, CoreBankingRejected, CoreBankingUnavailable
from gateway.db import utcnow
from gateway.errors import (
    BusinessRuleViolation,
    Conflict,
    FieldError,
    NotFound,
    TooManyRequests,
    ValidationFailed,
)
from gateway.ids import new_id
from gateway.jobs import enqueue
from gateway.notifications import emit
from gateway.partners.models import Partner
from gateway.pii import PiiVault, mask_name
from gateway.ratelimit import LimitStore
from gateway.scenarios.models import Transaction, TxnStatus
from gateway.scenarios.payments import collect, payer_for, refund
from gateway.scenarios.utilities.client import (
    BillerConfig,
    BillerPool,
    NotSent,
    WriteOffResult,
    WriteOffStatus,
    config_of,
)
from gateway.scenarios.utilities.models import PaymentStatus, UtilityPayment
from gateway.scenarios.utilities.protocol import UtilityAccountNo
from gateway.scenarios.utilities.schemas import BillRead

KEY = "utilities"
RESOLVE_JOB = "utilities.resolve_payment"
RESOLVE_DELAY = timedelta(seconds=30)
QUERIES_PER_MINUTE = 10
log = structlog.get_logger(__name__)


class BillerNotFound(NotFound):
    code = "biller_not_found"


async def biller_for(session: AsyncSession, partner_id: str, biller_id: str) -> BillerConfig:
    """The calling partner's own biller: the partner is the biller, so ``biller_id`` is its id.
    Any other id answers 404, like every foreign id."""
    partner = await session.get(Partner, partner_id) if biller_id == partner_id else None
    config = config_of(partner.id, partner.scenario_profile) if partner else None
    if config is None:
        raise BillerNotFound("No such biller.")
    return config


async def query_bill(
    session: AsyncSession,
    pool: BillerPool,
    limits: LimitStore,
    *,
    partner_id: str,
    biller_id: str,
    account_no: str,
) -> BillRead:
    """The account's bill at the biller; at most 10 queries a minute per account number."""
    try:
        msgspec.convert(account_no, UtilityAccountNo)
    except msgspec.ValidationError as e:
        raise ValidationFailed(
            "The account number is malformed.",
            errors=[FieldError("account_no", "invalid", "4 to 32 of 0-9, A-Z, a-z and -.")],
        ) from e
    config = await biller_for(session, partner_id, biller_id)
    decision = await limits.take(
        f"utilities:query:{biller_id}:{account_no}", QUERIES_PER_MINUTE / 60, QUERIES_PER_MINUTE
    )
    if not decision.allowed:
        raise TooManyRequests(
            "At most 10 bill queries a minute per account number.", headers=decision.headers()
        )
    client = await pool.client_for(config)
    bill = await client.query_bill(account_no)
    return BillRead(
        biller_id=biller_id,
        account_no=account_no,
        bill_key=bill.bill_key,
        holder_name=mask_name(bill.holder_name),
        amount_due=bill.amount_due,
        period=bill.period,
    )


async def pay(
    session: AsyncSession,
    vault: PiiVault,
    core: CoreBanking,
    pool: BillerPool,
    *,
    partner_id: str,
    biller_id: str,
    account_no: str,
    bill_key: str,
    amount: int,
    customer_id: str,
    request_ref: str,
    agreement_id: str | None = None,
) -> UtilityPayment:
    """Debit the customer, then write the bill off at the biller (see the module docstring).

    The bill is checked at the biller before any money moves: a bill that changed, was paid or
    is for another amount is refused without a debit.
    """
    earlier = await session.scalar(
        select(UtilityPayment).where(
            col(UtilityPayment.partner_id) == partner_id,
            col(UtilityPayment.request_ref) == request_ref,
        )
    )
    if earlier is not None:
        return earlier
    config = await biller_for(session, partner_id, biller_id)
    payer = await payer_for(session, vault, partner_id, customer_id)
    client = await pool.client_for(config)
    bill = await client.query_bill(account_no)
    if bill.bill_key != bill_key:
        if bill.bill_key is None:
            raise Conflict("The biller has nothing due on this account.", code="bill_not_due")
        raise Conflict("The biller's current bill has another key.", code="bill_changed")
    if bill.amount_due != amount:
        raise BusinessRuleViolation(
            f"The bill is for {bill.amount_due} fen.", code="amount_mismatch"
        )
    payment = UtilityPayment(
        id=new_id("utp"),
        partner_id=partner_id,
        biller_id=biller_id,
        customer_id=customer_id,
        account_no=account_no,
        bill_key=bill_key,
        amount=amount,
        request_ref=request_ref,
        agreement_id=agreement_id,
    )
    session.add(payment)
    await session.flush()
    txn = await collect(
        session,
        core,
        partner_id=partner_id,
        scenario=KEY,
        kind="payment",
        payer=payer,
        amount=amount,
        reference=request_ref,
        purpose=f"{config.biller_type} {bill.period or ''}".strip(),
        sub_channel=biller_id,
        external_ref=payment.id,
        details={"account_no": account_no, "biller_type": config.biller_type},
        notify=False,
    )
    payment.txn_id = txn.id
    try:
        result = await client.write_off(
            reference=payment.id, account_no=account_no, bill_key=bill_key, amount=amount
        )
    except NotSent as e:
        log.warning("utilities.write_off_not_sent", payment_id=payment.id, reason=e.detail)
        result = WriteOffResult(WriteOffStatus.FAILED, amount, payment.id, None, e.code)
    await apply_outcome(session, vault, core, payment, result)
    return payment


async def apply_outcome(
    session: AsyncSession,
    vault: PiiVault,
    core: CoreBanking,
    payment: UtilityPayment,
    result: WriteOffResult | None,
) -> None:
    """Move a pending payment on by what the biller said (``None``: it recorded nothing)."""
    if result is not None and result.status is WriteOffStatus.SUCCEEDED:
        await _mark_debit(session, payment, TxnStatus.SUCCEEDED)
        payment.status = PaymentStatus.SUCCEEDED.value
        payment.biller_reference = result.biller_reference
        payment.resolved_at = utcnow()
        await session.flush()
        await emit(session, payment.partner_id, "payment.succeeded", _event(payment))
        log.info("utilities.payment_succeeded", payment_id=payment.id)
        return
    if result is not None and result.status is WriteOffStatus.UNKNOWN:
        await _resolve_later(session, payment)
        return
    code = result.error_code if result is not None else "reference_not_found"
    await _reverse(session, vault, core, payment, code or "write_off_failed")


async def _mark_debit(session: AsyncSession, payment: UtilityPayment, status: TxnStatus) -> None:
    """The debit's own status follows the write-off: ``pending`` keeps it out of settlement
    until the biller has said, ``reversed`` once it was given back (DESIGN §9)."""
    await session.execute(
        sa.update(Transaction)
        .where(col(Transaction.id) == payment.txn_id)
        .values(status=status.value)
        .execution_options(synchronize_session=False)
    )


async def _resolve_later(session: AsyncSession, payment: UtilityPayment) -> None:
    log.warning("utilities.payment_pending", payment_id=payment.id)
    await _mark_debit(session, payment, TxnStatus.PENDING)
    await enqueue(
        session,
        RESOLVE_JOB,
        {"payment_id": payment.id},
        run_at=utcnow() + RESOLVE_DELAY,
        dedupe_key=f"{RESOLVE_JOB}:{payment.id}",
        max_attempts=12,
    )


async def _reverse(
    session: AsyncSession,
    vault: PiiVault,
    core: CoreBanking,
    payment: UtilityPayment,
    code: str,
) -> None:
    """冲正: give the whole debit back. If the core cannot confirm the credit, the payment stays
    pending and the resolution job tries again under the same reference (the core dedupes)."""
    await _mark_debit(session, payment, TxnStatus.SUCCEEDED)  # what the refund gives back
    debit = await session.get(Transaction, payment.txn_id, populate_existing=True)
    if debit is None:  # the debit never happened: nothing to give back
        payment.status = PaymentStatus.FAILED.value
        payment.error_code = code
        payment.resolved_at = utcnow()
        await session.flush()
        return
    payer = await payer_for(session, vault, payment.partner_id, payment.customer_id)
    # A write before the savepoint, so that on SQLite it nests in the open transaction.
    await session.execute(
        sa.update(UtilityPayment)
        .where(col(UtilityPayment.id) == payment.id)
        .values(error_code=code)
        .execution_options(synchronize_session=False)
    )
    payment.error_code = code
    try:
        async with session.begin_nested():
            credit = await refund(
                session,
                core,
                payment=debit,
                payer=payer,
                amount=payment.amount,
                reference=f"rev:{payment.id}",
                purpose=f"reversal {payment.id}",
                notify=False,
            )
    except (CoreBankingUnavailable, CoreBankingRejected) as e:
        log.error("utilities.reversal_failed", payment_id=payment.id, reason=e.detail)
        payment.error_code = code
        await _resolve_later(session, payment)
        return
    await _mark_debit(session, payment, TxnStatus.REVERSED)
    payment.status = PaymentStatus.REVERSED.value
    payment.error_code = code
    payment.reversal_txn_id = credit.id
    payment.resolved_at = utcnow()
    await session.flush()
    await emit(
        session,
        payment.partner_id,
        "payment.reversed",
        _event(payment) | {"reason": code, "reversal_transaction_id": credit.id},
    )
    log.info("utilities.payment_reversed", payment_id=payment.id, reason=code)


async def resolve(
    session: AsyncSession, vault: PiiVault, core: CoreBanking, pool: BillerPool, payment_id: str
) -> None:
    """Ask the biller what became of a pending payment's write-off, and act on its answer.
    Raises (so the job retries) while the biller cannot answer."""
    payment = await session.get(UtilityPayment, payment_id, with_for_update=True)
    if payment is None or payment.status != PaymentStatus.PENDING.value:
        return
    config = await biller_for(session, payment.partner_id, payment.biller_id)
    client = await pool.client_for(config)
    found = await client.write_off_status(
        reference=payment.id,
        account_no=payment.account_no,
        bill_key=payment.bill_key,
        amount=payment.amount,
    )
    log.info(
        "utilities.write_off_status",
        payment_id=payment.id,
        found=found.status.value if found else "not_recorded",
    )
    await apply_outcome(session, vault, core, payment, found)


def _event(payment: UtilityPayment) -> dict[str, Any]:
    return {
        "payment_id": payment.id,
        "transaction_id": payment.txn_id,
        "scenario": KEY,
        "biller_id": payment.biller_id,
        "account_no": payment.account_no,
        "bill_key": payment.bill_key,
        "customer_id": payment.customer_id,
        "amount": payment.amount,
        "currency": "CNY",
        "agreement_id": payment.agreement_id,
        "biller_reference": payment.biller_reference,
    }
