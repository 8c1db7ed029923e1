"""Winding down a merchant: freeze its releases and pay every holder back from the escrow.

All of it happens in one transaction under the merchant's lock: a crash half-way rolls the
whole wind-down back, and the retry sends the same core references (``svwd:<card>``), so a core
that already paid a holder answers with that payment instead of paying twice. A second request
once it is done answers the recorded report and moves nothing.
"""

from __future__ import annotations

import sqlalchemy as sa
import structlog
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from gateway import audit
from gateway.core_banking import CoreBanking
from gateway.db import utcnow
from gateway.errors import BusinessRuleViolation
from gateway.partners.service import get_partner
from gateway.pii import PiiVault
from gateway.scenarios.payments import payer_for
from gateway.scenarios.stored_value import rules
from gateway.scenarios.stored_value.models import Card, CardStatus, Merchant, MovementKind
from gateway.scenarios.stored_value.schemas import WindDownRead
from gateway.scenarios.stored_value.service import (
    KEY,
    book_out,
    credit_holder,
    escrow_account,
    escrow_balance,
    lock_merchant,
    movement_of,
)
from gateway.settlement.ledger.accounts import AccountType, account
from gateway.staff.service import StaffIdentity

log = structlog.get_logger(__name__)


def report(merchant: Merchant) -> WindDownRead:
    assert merchant.wound_down_at is not None
    return WindDownRead(
        partner_id=merchant.partner_id,
        status="wound_down",
        wound_down_at=merchant.wound_down_at,
        wound_down_by=merchant.wound_down_by or "",
        escrow_before=merchant.escrow_before or 0,
        outstanding_before=merchant.outstanding_before or 0,
        refunded=merchant.refunded or 0,
        shortfall=merchant.shortfall or 0,
        pro_rata=bool(merchant.shortfall),
        cards_refunded=merchant.cards_refunded or 0,
    )


async def wind_down(
    session: AsyncSession,
    vault: PiiVault,
    core: CoreBanking,
    *,
    partner_id: str,
    staff: StaffIdentity,
) -> WindDownRead:
    partner = await get_partner(session, partner_id)
    if KEY not in partner.scenarios:
        raise BusinessRuleViolation(
            "The partner does not run the stored-value scenario.", code="scenario_not_enabled"
        )
    merchant = await lock_merchant(session, partner_id)
    if merchant.wound_down_at is not None:
        return report(merchant)
    await session.execute(
        sa.update(Card)
        .where(col(Card.partner_id) == partner_id)
        .values(updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    cards = list(
        (
            await session.scalars(
                select(Card)
                .where(col(Card.partner_id) == partner_id, col(Card.balance) > 0)
                .order_by(col(Card.id))
                .execution_options(populate_existing=True)
            )
        ).all()
    )
    escrow = await escrow_balance(session, partner_id)
    outstanding = sum(c.balance for c in cards)
    shares = rules.pro_rata([c.balance for c in cards], escrow)
    refunded = 0
    for card, share in zip(cards, shares, strict=True):
        txn = None
        if share > 0:
            reference = f"svwd:{card.id}"
            payer = await payer_for(session, vault, partner_id, card.customer_id)
            core_reference = await credit_holder(
                core,
                reference=reference,
                account_no=payer.account_no,
                amount=share,
                purpose=f"stored-value wind-down {card.id}",
            )
            txn = await book_out(
                session,
                card,
                kind=MovementKind.WIND_DOWN_REFUND,
                amount=share,
                reference=reference,
                core_reference=core_reference,
                lines=[
                    (escrow_account(partner_id), share),
                    (account(AccountType.CUSTOMER_FUNDS), -share),
                ],
            )
        shortfall = card.balance - share
        card.balance = 0
        card.lessons_remaining = 0
        session.add(
            movement_of(
                card,
                MovementKind.WIND_DOWN_REFUND,
                share,
                shortfall=shortfall,
                reason="closure",
                txn_id=txn.id if txn else None,
            )
        )
        refunded += share
    await session.execute(
        sa.update(Card)
        .where(col(Card.partner_id) == partner_id)
        .values(status=CardStatus.CLOSED.value)
        .execution_options(synchronize_session="fetch")
    )
    merchant.wound_down_at = utcnow()
    merchant.wound_down_by = staff.actor
    merchant.escrow_before = escrow
    merchant.outstanding_before = outstanding
    merchant.refunded = refunded
    merchant.shortfall = outstanding - refunded
    merchant.cards_refunded = len(cards)
    answer = report(merchant)
    audit.record(
        session,
        actor=staff.actor,
        action="partner.wound_down",
        subject_type="partner",
        subject_id=partner_id,
        before={"escrow": escrow, "outstanding": outstanding},
        after={
            "refunded": refunded,
            "shortfall": outstanding - refunded,
            "cards": len(cards),
            "pro_rata": outstanding > escrow,
        },
    )
    await session.flush()
    log.info(
        "stored_value.wound_down",
        partner_id=partner_id,
        refunded=refunded,
        shortfall=outstanding - refunded,
        cards=len(cards),
    )
    return answer
