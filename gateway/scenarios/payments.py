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

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from gateway import risk
from gateway.channels.campaigns.service import (
    NO_GRANT,
    active_campaign,
    draw_subsidy,
    return_subsidy,
)
from gateway.clock import business_date_of
from gateway.core_banking import CoreBanking, CoreBankingUnavailable, MoneyStatus
from gateway.customers.service import linked_account_no
from gateway.db import utcnow
from gateway.errors import BusinessRuleViolation
from gateway.ids import new_id
from gateway.money import mul_div_half_up
from gateway.notifications import emit
from gateway.pii import PiiVault
from gateway.scenarios.models import Transaction, TxnStatus
from gateway.settlement.ledger.accounts import AccountType, account
from gateway.settlement.ledger.service import post_journal


class PaymentDeclined(BusinessRuleViolation):
    code = "payment_declined"


class RefundExceedsPaid(BusinessRuleViolation):
    code = "refund_exceeds_paid"


@dataclass(frozen=True, slots=True)
class Payer:
    customer_id: str
    account_no: str


async def payer_for(
    session: AsyncSession, vault: PiiVault, partner_id: str, customer_id: str
) -> Payer:
    """The paying customer, who must be linked to the partner (404 otherwise)."""
    sealed = await linked_account_no(session, customer_id, partner_id)
    return Payer(customer_id, vault.decrypt(sealed, context="customer.account_no"))


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
    details: Mapping[str, Any] | None = None,
    credit_account: str | None = None,
    notify: bool = True,
) -> Transaction:
    """Charge ``amount`` less any subsidy to the payer; the partner is owed the full ``amount``.

    With ``subsidised`` the active campaign's subsidy is drawn first (``litres_ml`` is what a
    per-litre subsidy counts); when its budget has run out the payer simply pays more.
    ``details`` are the scenario's facts about the payment (plate and litres, terminal, card,
    the partner's ``context`` of device and IP) that the risk engine scores, with the adapter's
    ``risk_features``, before any money moves: ``block`` refuses with 422 ``risk_blocked``
    (nothing is written or charged); ``review`` lets the payment through, opens or attaches a
    case and holds the transaction out of settlement (``risk.hold_placed``).
    ``credit_account`` is the ledger account owed the full ``amount`` when it is not the
    partner's payable for the scenario: money moved onto a closed-loop card
    (``card_float:<partner>``) or into supervised escrow (``merchant_escrow:<partner>``) is owed
    to the cardholders, not to the partner.
    ``notify=False`` leaves the ``payment.succeeded`` event to a caller whose payment is not
    complete when the debit is (utilities: only once the biller has written the bill off).
    """
    now, txn_id = utcnow(), new_id("txn")
    verdict = await risk.assess(
        session,
        "transaction",
        {
            **(details or {}),
            "txn_id": txn_id,
            "partner_id": partner_id,
            "scenario": scenario,
            "kind": kind,
            "customer_id": payer.customer_id,
            "sub_channel": sub_channel,
            "amount": amount,
            "litres_ml": litres_ml,
            "occurred_at": now,
        },
    )
    verdict.raise_if_blocked()
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
        id=txn_id,
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
    await risk.attach_transaction(
        session, verdict, txn_id=txn.id, partner_id=partner_id, amount=amount
    )
    credited = credit_account or account(AccountType.PARTNER_PAYABLE, partner_id, scenario)
    lines = [(credited, -amount)]
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
    if not notify:
        return txn
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


async def refund(
    session: AsyncSession,
    core: CoreBanking,
    *,
    payment: Transaction,
    payer: Payer,
    amount: int,
    reference: str,
    purpose: str,
    notify: bool = True,
) -> Transaction:
    """Give back ``amount`` of a succeeded payment (its gross terms), in part or in full.

    The partner owes ``amount`` less; a subsidised payment's campaign gets back its share of
    it (rounded so that refunding everything returns exactly the subsidy) and the payer the
    rest, credited through the core with the caller's idempotent reference. Refunds can never
    add up to more than the payment: ``refunded`` only moves by a conditional UPDATE, so two
    concurrent refunds cannot both pass the check (422 ``refund_exceeds_paid``).
    ``notify=False`` leaves the event to the caller (a utilities reversal emits
    ``payment.reversed`` instead of ``payment.refunded``).
    """
    if payment.status != TxnStatus.SUCCEEDED.value or payment.kind == "refund":
        raise BusinessRuleViolation(
            "Only a succeeded payment can be refunded.", code="not_refundable"
        )
    before = await session.scalar(
        sa.update(Transaction)
        .where(
            col(Transaction.id) == payment.id,
            col(Transaction.refunded) + amount <= col(Transaction.amount),
        )
        .values(refunded=col(Transaction.refunded) + amount)
        .returning(col(Transaction.refunded) - amount)
        .execution_options(synchronize_session=False)
    )
    if before is None:
        raise RefundExceedsPaid("The refunds would exceed what was paid.")
    verdict = await risk.assess(
        session,
        "transaction",
        {
            "partner_id": payment.partner_id,
            "scenario": payment.scenario,
            "kind": "refund",
            "customer_id": payer.customer_id,
            "sub_channel": payment.sub_channel,
            "merchant": await risk.merchant_of(session, payment.id),
            "amount": amount,
            "payment_id": payment.id,
        },
    )
    verdict.raise_if_blocked()
    share = mul_div_half_up(before + amount, payment.subsidy, payment.amount) - mul_div_half_up(
        before, payment.subsidy, payment.amount
    )
    credited = amount - share
    core_reference = None
    if credited > 0:
        result = await core.credit(
            reference=reference, account_no=payer.account_no, amount=credited, purpose=purpose
        )
        if result.status is MoneyStatus.UNKNOWN:
            raise CoreBankingUnavailable(
                "The core did not confirm the refund; retry with the same Idempotency-Key."
            )
        if not result.ok:
            raise PaymentDeclined(
                f"The refund was declined: {result.error_code}.", code=str(result.error_code)
            )
        core_reference = result.core_reference
    if share and payment.campaign_id:
        await return_subsidy(
            session,
            campaign_id=payment.campaign_id,
            customer_id=payer.customer_id,
            amount=share,
            at=payment.occurred_at,
        )
    now = utcnow()
    txn = Transaction(
        id=new_id("txn"),
        partner_id=payment.partner_id,
        scenario=payment.scenario,
        kind="refund",
        status=TxnStatus.SUCCEEDED.value,
        customer_id=payer.customer_id,
        sub_channel=payment.sub_channel,
        campaign_id=payment.campaign_id if share else None,
        amount=amount,
        subsidy=share,
        reference=reference,
        core_reference=core_reference,
        related_id=payment.id,
        occurred_at=now,
        business_date=business_date_of(now),
    )
    session.add(txn)
    await session.flush()
    await risk.attach_transaction(
        session, verdict, txn_id=txn.id, partner_id=payment.partner_id, amount=amount, hold=False
    )
    lines = [(account(AccountType.PARTNER_PAYABLE, payment.partner_id, payment.scenario), amount)]
    if credited:
        lines.append((account(AccountType.CUSTOMER_FUNDS), -credited))
    if share and payment.campaign_id:
        lines.append((account(AccountType.SUBSIDY_BUDGET, payment.campaign_id), -share))
    await post_journal(
        session,
        reference=f"txn:{txn.id}",
        kind=f"{payment.scenario}.refund",
        lines=lines,
        occurred_at=now,
        txn_id=txn.id,
        partner_id=payment.partner_id,
        scenario=payment.scenario,
    )
    if not notify:
        return txn
    await emit(
        session,
        payment.partner_id,
        "payment.refunded",
        {
            "transaction_id": txn.id,
            "payment_id": payment.id,
            "scenario": payment.scenario,
            "customer_id": payer.customer_id,
            "amount": amount,
            "subsidy_returned": share,
            "credited": credited,
            "currency": "CNY",
        },
    )
    return txn
