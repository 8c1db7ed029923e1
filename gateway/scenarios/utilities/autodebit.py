"""Auto-debit agreements (代扣): the customer's bills paid without asking, within rules.

Each active agreement has a daily check (a self-rescheduling job, one per agreement per local
day). A check runs only between 07:00 and 22:00 Asia/Shanghai: it asks the biller for the
account's bill and, for a bill it has not seen, within the agreement's cap, records a scheduled
debit and sends the partner ``utilities.pre_debit_notice``. The debit runs no earlier than
:data:`NOTICE_LEAD` (24 h) after the notice, and again only inside the window; it pays exactly the
noticed bill and amount, so a bill that changed, was paid elsewhere or grew is skipped (a new bill
is noticed again by the next check). A bill above the cap is never debited.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any, cast

import structlog
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from gateway.clock import SHANGHAI
from gateway.core_banking import core_banking_for
from gateway.db import utcnow
from gateway.errors import Conflict, GatewayError
from gateway.ids import new_id
from gateway.jobs import JobContext, enqueue, job_handler
from gateway.notifications import emit
from gateway.partners.ownership import owned
from gateway.scenarios.payments import payer_for
from gateway.scenarios.utilities import service
from gateway.scenarios.utilities.client import BillerUnavailable, pool_of
from gateway.scenarios.utilities.models import (
    AgreementStatus,
    DebitStatus,
    UtilityAgreement,
    UtilityScheduledDebit,
)
from gateway.scenarios.utilities.schemas import AgreementCreate

WINDOW_START = time(7, 0)
WINDOW_END = time(22, 0)
NOTICE_LEAD = timedelta(hours=24)
CHECK_RETRY = timedelta(hours=1)
CHECK_JOB = "utilities.autodebit_check"
PAY_JOB = "utilities.autodebit_pay"
CLOCK_SERVICE = "clock"  # tests put a fixed clock here; processes use the wall clock
log = structlog.get_logger(__name__)


def in_window(moment: datetime) -> bool:
    return WINDOW_START <= moment.astimezone(SHANGHAI).time() < WINDOW_END


def next_window_start(moment: datetime) -> datetime:
    """The first 07:00 Asia/Shanghai strictly after ``moment``."""
    local = moment.astimezone(SHANGHAI)
    start = datetime.combine(local.date(), WINDOW_START, tzinfo=SHANGHAI)
    if start <= local:
        start = datetime.combine(local.date() + timedelta(days=1), WINDOW_START, tzinfo=SHANGHAI)
    return start.astimezone(UTC)


def within_window(moment: datetime) -> datetime:
    """``moment`` if it is inside the window, else the next window's start."""
    return moment if in_window(moment) else next_window_start(moment)


def _now(ctx: JobContext) -> datetime:
    clock = ctx.services.get(CLOCK_SERVICE)
    return cast(datetime, clock()).astimezone(UTC) if clock is not None else utcnow()


async def _schedule_check(
    session: AsyncSession, agreement_id: str, at: datetime, *, retry: bool = False
) -> None:
    """One check per agreement per local day (a retry within the day has its own key)."""
    slot = at.isoformat() if retry else at.astimezone(SHANGHAI).date().isoformat()
    await enqueue(
        session,
        CHECK_JOB,
        {"agreement_id": agreement_id},
        run_at=at,
        dedupe_key=f"{CHECK_JOB}:{agreement_id}:{slot}",
    )


async def create_agreement(
    session: AsyncSession, vault: Any, *, partner_id: str, data: AgreementCreate
) -> UtilityAgreement:
    await service.biller_for(session, partner_id, data.biller_id)
    await payer_for(session, vault, partner_id, data.customer_id)
    taken = await session.scalar(
        select(UtilityAgreement.id).where(
            col(UtilityAgreement.partner_id) == partner_id,
            col(UtilityAgreement.account_no) == data.account_no,
            col(UtilityAgreement.status) == AgreementStatus.ACTIVE.value,
        )
    )
    if taken is not None:
        raise Conflict("The account already has an active agreement.", code="agreement_exists")
    if data.external_ref is not None:
        ref_taken = await session.scalar(
            select(UtilityAgreement.id).where(
                col(UtilityAgreement.partner_id) == partner_id,
                col(UtilityAgreement.external_ref) == data.external_ref,
            )
        )
        if ref_taken is not None:
            raise Conflict("An agreement has this external_ref.", code="external_ref_conflict")
    agreement = UtilityAgreement(
        id=new_id("uag"),
        partner_id=partner_id,
        biller_id=data.biller_id,
        customer_id=data.customer_id,
        account_no=data.account_no,
        cap=data.cap,
        external_ref=data.external_ref,
    )
    session.add(agreement)
    await session.flush()
    await _schedule_check(session, agreement.id, within_window(utcnow()))
    return agreement


async def cancel_agreement(
    session: AsyncSession, partner_id: str, agreement_id: str
) -> UtilityAgreement:
    agreement = await owned(session, UtilityAgreement, agreement_id, partner_id, for_update=True)
    if agreement.status == AgreementStatus.ACTIVE.value:
        agreement.status = AgreementStatus.CANCELLED.value
        agreement.cancelled_at = utcnow()
        await session.flush()
    return agreement


@job_handler(CHECK_JOB)
async def check_agreement(ctx: JobContext, payload: dict[str, Any]) -> None:
    """Notice a new bill of an active agreement (inside the window), then check again tomorrow."""
    session = ctx.session
    agreement = await session.get(UtilityAgreement, payload["agreement_id"], with_for_update=True)
    if agreement is None or agreement.status != AgreementStatus.ACTIVE.value:
        return
    now = _now(ctx)
    if not in_window(now):
        await _schedule_check(session, agreement.id, next_window_start(now))
        return
    config = await service.biller_for(session, agreement.partner_id, agreement.biller_id)
    client = await pool_of(ctx.services).client_for(config)
    try:
        bill = await client.query_bill(agreement.account_no)
    except BillerUnavailable as e:
        # Try again in an hour (inside the window); the daily chain must not die with the job.
        log.warning(
            "utilities.autodebit_check_deferred", agreement_id=agreement.id, reason=e.detail
        )
        await _schedule_check(session, agreement.id, within_window(now + CHECK_RETRY), retry=True)
        return
    if bill.bill_key is not None and bill.amount_due > 0:
        seen = await session.scalar(
            select(UtilityScheduledDebit.id).where(
                col(UtilityScheduledDebit.agreement_id) == agreement.id,
                col(UtilityScheduledDebit.bill_key) == bill.bill_key,
            )
        )
        if seen is None:
            await _notice(session, agreement, bill.bill_key, bill.amount_due, bill.period, now)
    await _schedule_check(session, agreement.id, next_window_start(now))


async def _notice(
    session: AsyncSession,
    agreement: UtilityAgreement,
    bill_key: str,
    amount: int,
    period: str | None,
    now: datetime,
) -> None:
    debit = UtilityScheduledDebit(
        id=new_id("usd"),
        agreement_id=agreement.id,
        bill_key=bill_key,
        amount=amount,
        period=period,
        notified_at=now,
        debit_at=within_window(now + NOTICE_LEAD),
    )
    if amount > agreement.cap:
        debit.status = DebitStatus.SKIPPED.value
        debit.skip_reason = "cap_exceeded"
        session.add(debit)
        await session.flush()
        log.info("utilities.autodebit_over_cap", agreement_id=agreement.id, amount=amount)
        return
    session.add(debit)
    await session.flush()
    debit.notice_event_id = await emit(
        session,
        agreement.partner_id,
        "utilities.pre_debit_notice",
        {
            "agreement_id": agreement.id,
            "scheduled_debit_id": debit.id,
            "biller_id": agreement.biller_id,
            "account_no": agreement.account_no,
            "customer_id": agreement.customer_id,
            "bill_key": bill_key,
            "period": period,
            "amount": amount,
            "currency": "CNY",
            "debit_at": debit.debit_at.astimezone(UTC).isoformat(),
        },
    )
    await enqueue(
        session,
        PAY_JOB,
        {"scheduled_debit_id": debit.id},
        run_at=debit.debit_at,
        dedupe_key=f"{PAY_JOB}:{debit.id}",
    )


async def _skip(debit: UtilityScheduledDebit, reason: str) -> None:
    debit.status = DebitStatus.SKIPPED.value
    debit.skip_reason = reason
    log.info("utilities.autodebit_skipped", scheduled_debit_id=debit.id, reason=reason)


@job_handler(PAY_JOB)
async def pay_scheduled(ctx: JobContext, payload: dict[str, Any]) -> None:
    """Pay a noticed bill once its notice has run its lead time, inside the window."""
    session = ctx.session
    debit = await session.get(
        UtilityScheduledDebit, payload["scheduled_debit_id"], with_for_update=True
    )
    if debit is None or debit.status != DebitStatus.NOTIFIED.value:
        return
    agreement = await session.get(UtilityAgreement, debit.agreement_id)
    if agreement is None or agreement.status != AgreementStatus.ACTIVE.value:
        await _skip(debit, "agreement_cancelled")
        return
    now = _now(ctx)
    if now < debit.debit_at or not in_window(now):
        later = within_window(max(now, debit.debit_at))
        if later <= now:
            later = next_window_start(now)
        await enqueue(
            session,
            PAY_JOB,
            {"scheduled_debit_id": debit.id},
            run_at=later,
            dedupe_key=f"{PAY_JOB}:{debit.id}:{later.isoformat()}",
        )
        return
    if debit.amount > agreement.cap:
        await _skip(debit, "cap_exceeded")
        return
    debit.attempts += 1
    await session.flush()  # a write first: on SQLite the savepoint nests in the transaction
    core = core_banking_for(session, ctx.services.get("core_http"))
    try:
        async with session.begin_nested():
            payment = await service.pay(
                session,
                ctx.services["vault"],
                core,
                pool_of(ctx.services),
                partner_id=agreement.partner_id,
                biller_id=agreement.biller_id,
                account_no=agreement.account_no,
                bill_key=debit.bill_key,
                amount=debit.amount,
                customer_id=agreement.customer_id,
                request_ref=f"auto:{debit.id}",
                agreement_id=agreement.id,
            )
    except GatewayError as e:
        if e.status >= 500 or e.status == 429:
            raise  # technical: the job retries
        await _skip(debit, e.code)
        return
    debit.status = DebitStatus.DEBITED.value
    debit.payment_id = payment.id
    log.info("utilities.autodebit_paid", scheduled_debit_id=debit.id, payment_id=payment.id)
