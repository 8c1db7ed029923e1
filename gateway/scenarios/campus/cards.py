"""Money on campus cards: top-ups from the bank account, payments at campus merchants, and the
withdrawal that closes a card.

The card is closed-loop: its balance is the cardholder's money held by the bank in
``card_float:<partner>``. A top-up charges the holder's account through the shared ``collect``
with the float as the account owed; a payment moves float to the university's payable without
asking the core (no money leaves the bank); a withdrawal credits the balance back through the
core and closes the card. Every change holds the card's row lock, so the balance stays within
0 … ¥1,000 under concurrent requests (and the database's CHECK refuses anything else).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from gateway import audit, risk
from gateway.clock import business_date_of
from gateway.core_banking import CoreBanking, CoreBankingUnavailable, MoneyStatus
from gateway.db import utcnow
from gateway.errors import BusinessRuleViolation, Conflict, NotFound
from gateway.ids import new_id
from gateway.notifications import emit
from gateway.pii import PiiVault
from gateway.scenarios.campus.models import (
    CARD_BALANCE_CAP,
    CampusCard,
    CardActivity,
    CardStatus,
)
from gateway.scenarios.campus.service import KEY, CardClosed, is_merchant, lock_card
from gateway.scenarios.models import Transaction, TxnStatus
from gateway.scenarios.payments import PaymentDeclined, collect, payer_for
from gateway.settlement.ledger.accounts import AccountType, account
from gateway.settlement.ledger.service import post_journal


class CardFrozen(BusinessRuleViolation):
    code = "card_frozen"


class CardBalanceCap(BusinessRuleViolation):
    code = "card_balance_cap"


class InsufficientCardBalance(BusinessRuleViolation):
    code = "insufficient_card_balance"


@dataclass(frozen=True, slots=True)
class Movement:
    card: CampusCard
    txn: Transaction
    activity: CardActivity


def _usable(card: CampusCard) -> None:
    if card.status == CardStatus.CLOSED:
        raise CardClosed("The card is closed.")
    if card.status == CardStatus.FROZEN:
        raise CardFrozen("The card is frozen (reported lost).")


def float_account(partner_id: str) -> str:
    return account(AccountType.CARD_FLOAT, partner_id)


def _activity(
    card: CampusCard,
    txn: Transaction,
    kind: str,
    merchant_id: str | None = None,
    terminal_id: str | None = None,
) -> CardActivity:
    return CardActivity(
        txn_id=txn.id,
        card_id=card.id,
        kind=kind,
        amount=txn.amount,
        balance_after=card.balance,
        business_date=txn.business_date,
        merchant_id=merchant_id,
        terminal_id=terminal_id,
    )


async def top_up(
    session: AsyncSession,
    vault: PiiVault,
    core: CoreBanking,
    *,
    partner_id: str,
    card_id: str,
    amount: int,
    reference: str,
    context: Mapping[str, Any] | None = None,
) -> Movement:
    """Move ``amount`` from the holder's bank account onto the card, up to the cap."""
    card = await lock_card(session, partner_id, card_id)
    _usable(card)
    if card.balance + amount > CARD_BALANCE_CAP:
        raise CardBalanceCap(
            f"A campus card holds at most {CARD_BALANCE_CAP} fen; "
            f"{CARD_BALANCE_CAP - card.balance} fen more fits on this one."
        )
    payer = await payer_for(session, vault, partner_id, card.customer_id)
    txn = await collect(
        session,
        core,
        partner_id=partner_id,
        scenario=KEY,
        kind="card_top_up",
        payer=payer,
        amount=amount,
        reference=reference,
        purpose="campus card top-up",
        sub_channel=card.sub_channel,
        details={"card_id": card.id, "context": dict(context or {})},
        credit_account=float_account(partner_id),
    )
    card.balance += amount
    activity = _activity(card, txn, "top_up")
    session.add(activity)
    await session.flush()
    return Movement(card, txn, activity)


async def pay(
    session: AsyncSession,
    *,
    partner_id: str,
    card_id: str,
    merchant_id: str,
    terminal_id: str,
    amount: int,
    reference: str,
    external_ref: str | None,
) -> Movement:
    """Pay a campus merchant from the card: float becomes the university's payable.

    Scored inline like every scenario payment (DESIGN §8): ``block`` refuses with 422
    ``risk_blocked`` before anything moves; ``review`` pays and holds the transaction out of
    settlement under its case."""
    if not await is_merchant(session, partner_id, merchant_id):
        raise NotFound("No such merchant.")
    card = await lock_card(session, partner_id, card_id)
    _usable(card)
    if card.balance < amount:
        raise InsufficientCardBalance(f"The card holds {card.balance} fen.")
    now, txn_id = utcnow(), new_id("txn")
    verdict = await risk.assess(
        session,
        "transaction",
        {
            "txn_id": txn_id,
            "partner_id": partner_id,
            "scenario": KEY,
            "kind": "card_payment",
            "customer_id": card.customer_id,
            "sub_channel": card.sub_channel,
            "merchant_id": merchant_id,
            "terminal_id": terminal_id,
            "card_id": card.id,
            "amount": amount,
            "occurred_at": now,
        },
    )
    verdict.raise_if_blocked()
    txn = Transaction(
        id=txn_id,
        partner_id=partner_id,
        scenario=KEY,
        kind="card_payment",
        status=TxnStatus.SUCCEEDED.value,
        customer_id=card.customer_id,
        sub_channel=merchant_id,
        amount=amount,
        reference=reference,
        external_ref=external_ref,
        occurred_at=now,
        business_date=business_date_of(now),
    )
    session.add(txn)
    try:
        await session.flush()
    except IntegrityError as e:  # the request rolls back, the card lock and all
        raise Conflict(
            "A payment with this external_ref exists.", code="external_ref_conflict"
        ) from e
    await risk.attach_transaction(
        session, verdict, txn_id=txn.id, partner_id=partner_id, amount=amount
    )
    await post_journal(
        session,
        reference=f"txn:{txn.id}",
        kind=f"{KEY}.card_payment",
        lines=[
            (float_account(partner_id), amount),
            (account(AccountType.PARTNER_PAYABLE, partner_id, KEY), -amount),
        ],
        occurred_at=now,
        txn_id=txn.id,
        partner_id=partner_id,
        scenario=KEY,
    )
    card.balance -= amount
    activity = _activity(card, txn, "payment", merchant_id=merchant_id, terminal_id=terminal_id)
    session.add(activity)
    await session.flush()
    await emit(
        session,
        partner_id,
        "payment.succeeded",
        {
            "transaction_id": txn.id,
            "scenario": KEY,
            "kind": txn.kind,
            "customer_id": card.customer_id,
            "card_id": card.id,
            "merchant_id": merchant_id,
            "terminal_id": terminal_id,
            "amount": amount,
            "currency": "CNY",
            "external_ref": external_ref,
        },
    )
    return Movement(card, txn, activity)


async def withdraw(
    session: AsyncSession,
    vault: PiiVault,
    core: CoreBanking,
    *,
    partner_id: str,
    card_id: str,
    reference: str,
) -> tuple[CampusCard, Transaction | None]:
    """Give the whole balance back to the holder's bank account and close the card (graduation,
    departure). A frozen card may be withdrawn: the money goes to the holder's own account."""
    card = await lock_card(session, partner_id, card_id)
    if card.status == CardStatus.CLOSED:
        raise CardClosed("The card is closed.")
    before = {"status": card.status, "balance": card.balance}
    amount = card.balance
    txn = None
    now = utcnow()
    if amount > 0:
        payer = await payer_for(session, vault, partner_id, card.customer_id)
        result = await core.credit(
            reference=reference,
            account_no=payer.account_no,
            amount=amount,
            purpose="campus card withdrawal",
        )
        if result.status is MoneyStatus.UNKNOWN:
            raise CoreBankingUnavailable(
                "The core did not confirm the credit; retry with the same Idempotency-Key."
            )
        if not result.ok:
            raise PaymentDeclined(
                f"The withdrawal was declined: {result.error_code}.", code=str(result.error_code)
            )
        txn = Transaction(
            id=new_id("txn"),
            partner_id=partner_id,
            scenario=KEY,
            kind="card_withdrawal",
            status=TxnStatus.SUCCEEDED.value,
            customer_id=card.customer_id,
            sub_channel=card.sub_channel,
            amount=amount,
            reference=reference,
            core_reference=result.core_reference,
            occurred_at=now,
            business_date=business_date_of(now),
        )
        session.add(txn)
        await session.flush()
        await post_journal(
            session,
            reference=f"txn:{txn.id}",
            kind=f"{KEY}.card_withdrawal",
            lines=[
                (float_account(partner_id), amount),
                (account(AccountType.CUSTOMER_FUNDS), -amount),
            ],
            occurred_at=now,
            txn_id=txn.id,
            partner_id=partner_id,
            scenario=KEY,
        )
        card.balance = 0
        session.add(_activity(card, txn, "withdrawal"))
    card.status = CardStatus.CLOSED.value
    card.closed_at = now
    audit.record(
        session,
        actor=f"partner:{partner_id}",
        action="campus.card_withdrawn",
        subject_type="campus_card",
        subject_id=card.id,
        before=before,
        after={"status": card.status, "balance": 0, "transaction_id": txn and txn.id},
    )
    await session.flush()
    await emit(
        session,
        partner_id,
        "campus.card_closed",
        {
            "card_id": card.id,
            "customer_id": card.customer_id,
            "withdrawn": amount,
            "transaction_id": txn and txn.id,
            "currency": "CNY",
        },
    )
    return card, txn
