"""What every scenario does when money moves: charge through the core, journal, tell the partner.

One place for it (issue 5): the core debit carries the caller's idempotent reference, a refusal
becomes a 422 with the core's code (and, raised, rolls back everything the request did, the
subsidy drawn included), an unknown outcome is a 503 the partner retries with the same
Idempotency-Key (the reference repeats, so the core answers the first outcome), and a success is
recorded as a transaction with its balanced ledger journal and a ``payment.succeeded`` event.
A subsidised payment draws its subsidy from the active campaign of its partner and scenario
(DESIGN §7) in the same transaction, so a decline or a crash gives the budget back by rolling back.
Class II limits are the core's to enforce: the sandbox core applies them exactly (DESIGN §6).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from gateway.channels.campaigns.service import NO_GRANT, active_campaign, draw_subsidy
from gateway.clock import business_date_of
from gateway.core_banking import CoreBanking, CoreBankingUnavailable, MoneyStatus
from gateway.customers.service import customer_for_partner
from gateway.db import utcnow
from gateway.errors import BusinessRuleViolation
from gateway.ids import new_id
from gateway.notifications import emit
from gateway.pii import PiiVault
from gateway.scenarios.models import Transaction, TxnStatus
from gateway.settlement.ledger.accounts import AccountType, account
from gateway.settlement.ledger.service import post_journal


class PaymentDeclined(BusinessRuleViolation):
    code = "payment_declined"


@dataclass(frozen=True, slots=True)
class Payer:
    customer_id: str
    account_no: str


async def payer_for(
    session: AsyncSession, vault: PiiVault, partner_id: str, customer_id: str
) -> Payer:
    """The paying customer, who must be linked to the partner (404 otherwise)."""
    customer, _ = await customer_for_partner(session, customer_id, partner_id)
    return Payer(customer.id, vault.decrypt(customer.account_no, context="customer.account_no"))


async def collect(
    session: AsyncSession,
    core: CoreBanking,
    *,
    partner_id: str,
    scenario: str,
    kind: str,
    payer: Payer,
    amount: int,
    reference: str,
    purpose: str,
    sub_channel: str | None = None,
    external_ref: str | None = None,
    subsidised: bool = False,
    litres_ml: int | None = None,
) -> Transaction:
    """Charge ``amount`` less any subsidy to the payer; the partner is owed the full ``amount``.

    With ``subsidised`` the active campaign's subsidy is drawn first (``litres_ml`` is what a
    per-litre subsidy counts); when its budget has run out the payer simply pays more.
    """
    now = utcnow()
    grant = NO_GRANT
    if subsidised:
        campaign = await active_campaign(session, partner_id=partner_id, scenario=scenario, at=now)
        grant = await draw_subsidy(
            session,
            campaign=campaign,
            customer_id=payer.customer_id,
            amount=amount,
            litres_ml=litres_ml,
            at=now,
        )
    subsidy, campaign_id = grant.amount, grant.campaign_id
    charged = amount - subsidy
    core_reference = None
    if charged > 0:
        result = await core.debit(
            reference=reference, account_no=payer.account_no, amount=charged, purpose=purpose
        )
        if result.status is MoneyStatus.UNKNOWN:
            raise CoreBankingUnavailable(
                "The core did not confirm the debit; retry with the same Idempotency-Key."
            )
        if not result.ok:
            raise PaymentDeclined(
                f"The payment was declined: {result.error_code}.", code=str(result.error_code)
            )
        core_reference = result.core_reference
    txn = Transaction(
        id=new_id("txn"),
        partner_id=partner_id,
        scenario=scenario,
        kind=kind,
        status=TxnStatus.SUCCEEDED.value,
        customer_id=payer.customer_id,
        sub_channel=sub_channel,
        campaign_id=campaign_id,
        amount=amount,
        subsidy=subsidy,
        reference=reference,
        core_reference=core_reference,
        external_ref=external_ref,
        occurred_at=now,
        business_date=business_date_of(now),
    )
    session.add(txn)
    await session.flush()
    lines = [(account(AccountType.PARTNER_PAYABLE, partner_id, scenario), -amount)]
    if charged:
        lines.append((account(AccountType.CUSTOMER_FUNDS), charged))
    if subsidy and campaign_id:
        lines.append((account(AccountType.SUBSIDY_BUDGET, campaign_id), subsidy))
    await post_journal(
        session,
        reference=f"txn:{txn.id}",
        kind=f"{scenario}.{kind}",
        lines=lines,
        occurred_at=now,
        txn_id=txn.id,
        partner_id=partner_id,
        scenario=scenario,
    )
    await emit(
        session,
        partner_id,
        "payment.succeeded",
        {
            "transaction_id": txn.id,
            "scenario": scenario,
            "kind": kind,
            "customer_id": payer.customer_id,
            "amount": amount,
            "subsidy": subsidy,
            "charged": charged,
            "currency": "CNY",
            "external_ref": external_ref,
        },
    )
    return txn
