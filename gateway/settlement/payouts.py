"""Paying a settlement out to the partner's settlement account through the core-banking port.

Each attempt has its own idempotent reference (``payout:<settlement>:<attempt>``): a retried job
re-sends the same reference, so an unknown outcome is resolved by the core, never by paying
twice; a definite refusal marks the settlement ``failed`` and finance retries it with a new
attempt. A suspended partner's payouts wait (DESIGN §5) and are looked at again hourly.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from gateway import audit
from gateway.core_banking import CoreBankingUnavailable, MoneyStatus, core_banking_for
from gateway.core_banking.sandbox import SandboxCore
from gateway.db import utcnow
from gateway.errors import Conflict, NotFound
from gateway.jobs.queue import enqueue
from gateway.jobs.registry import JobContext, job_handler
from gateway.notifications import emit
from gateway.partners.models import Partner, PartnerStatus
from gateway.partners.service import open_pii
from gateway.pii import PiiVault
from gateway.settlement.contracts import ACCOUNT_CONTEXT, contract_in_force
from gateway.settlement.ledger.accounts import AccountType, account
from gateway.settlement.ledger.service import post_journal
from gateway.settlement.models import PayoutStatus, Settlement

PAYOUT_JOB = "settlement.payout"
SUSPENDED_RECHECK = timedelta(hours=1)
log = structlog.get_logger(__name__)


async def _fail(ctx: JobContext, payload: dict[str, Any]) -> None:
    """The core stayed unreachable through every retry: surface it to finance."""
    settlement = await ctx.session.get(Settlement, payload["settlement_id"], with_for_update=True)
    if settlement is not None and settlement.payout_status == PayoutStatus.PENDING:
        settlement.payout_status = PayoutStatus.FAILED
        settlement.payout_error = "core_unavailable"


@job_handler(PAYOUT_JOB, on_dead=_fail)
async def payout_job(ctx: JobContext, payload: dict[str, Any]) -> None:
    core = core_banking_for(ctx.session, ctx.services["core_http"])
    await pay_out(ctx.session, core, ctx.services["vault"], payload["settlement_id"])


async def _destination(
    session: AsyncSession, core: Any, vault: PiiVault, partner: Partner, settlement: Settlement
) -> str:
    contract = await contract_in_force(session, partner.id, settlement.business_date)
    if contract.settlement_account_no is not None:
        account_no = vault.decrypt(contract.settlement_account_no, context=ACCOUNT_CONTEXT)
    else:
        account_no = str(open_pii(vault, partner.pii)["settlement_account_no"])
    if isinstance(core, SandboxCore):
        # The sandbox cannot hold a real bank's account number: it stands one of its own
        # internal accounts in for the partner's, opened once per partner.
        stand_in = await core.open_internal_account(
            reference=f"settlement-account:{partner.id}", name=partner.legal_name
        )
        return stand_in.account_no
    return account_no


async def pay_out(session: AsyncSession, core: Any, vault: PiiVault, settlement_id: str) -> None:
    settlement = await session.get(Settlement, settlement_id, with_for_update=True)
    if settlement is None or settlement.payout_status != PayoutStatus.PENDING:
        return
    partner = await session.get(Partner, settlement.partner_id)
    if partner is None:
        raise NotFound("No such partner.")
    if partner.status == PartnerStatus.SUSPENDED:
        settlement.payout_error = "partner_suspended"
        hour = utcnow().strftime("%Y%m%d%H")
        await enqueue(
            session,
            PAYOUT_JOB,
            {"settlement_id": settlement.id},
            run_at=utcnow() + SUSPENDED_RECHECK,
            dedupe_key=f"payout:{settlement.id}:{settlement.payout_attempt}:{hour}",
        )
        return
    destination = await _destination(session, core, vault, partner, settlement)
    result = await core.credit(
        reference=f"payout:{settlement.id}:{settlement.payout_attempt}",
        account_no=destination,
        amount=settlement.payout,
        purpose=f"settlement {settlement.business_date} {settlement.scenario}",
    )
    if result.status is MoneyStatus.UNKNOWN:
        raise CoreBankingUnavailable("The core did not confirm the payout; the job retries it.")
    if not result.ok:
        settlement.payout_status = PayoutStatus.FAILED
        settlement.payout_error = str(result.error_code)
        log.warning("settlement.payout_failed", settlement_id=settlement.id, code=result.error_code)
        return
    settlement.payout_status = PayoutStatus.PAID
    settlement.payout_error = None
    settlement.paid_at = utcnow()
    await post_journal(
        session,
        reference=f"payout:{settlement.id}",
        kind="settlement.payout",
        lines=[
            (
                account(AccountType.PARTNER_PAYABLE, partner.id, settlement.scenario),
                settlement.payout,
            ),
            (account(AccountType.CORE_CLEARING), -settlement.payout),
        ],
        partner_id=partner.id,
        scenario=settlement.scenario,
    )
    await emit(
        session,
        partner.id,
        "settlement.paid",
        {
            "settlement_id": settlement.id,
            "business_date": settlement.business_date.isoformat(),
            "scenario": settlement.scenario,
            "amount": settlement.payout,
            "currency": "CNY",
        },
    )
    log.info("settlement.paid", settlement_id=settlement.id, amount=settlement.payout)


async def retry_payout(session: AsyncSession, settlement_id: str, actor: str) -> Settlement:
    """Finance sends a failed payout again, as a new attempt with a new reference."""
    settlement = await session.get(Settlement, settlement_id, with_for_update=True)
    if settlement is None:
        raise NotFound("No such settlement.")
    if settlement.payout_status != PayoutStatus.FAILED:
        raise Conflict("Only a failed payout can be retried.", code="state_conflict")
    settlement.payout_attempt += 1
    settlement.payout_status = PayoutStatus.PENDING
    settlement.payout_error = None
    await enqueue(
        session,
        PAYOUT_JOB,
        {"settlement_id": settlement.id},
        dedupe_key=f"payout:{settlement.id}:{settlement.payout_attempt}",
    )
    audit.record(
        session,
        actor=actor,
        action="settlement.payout_retried",
        subject_type="settlement",
        subject_id=settlement.id,
        after={"attempt": settlement.payout_attempt},
    )
    await session.flush()
    return settlement
