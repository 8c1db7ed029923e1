"""Incentives per cooperation mode (DESIGN §7), accrued in the ledger, held and clawed back.

The partner's contract in force names the scheme (``gateway.settlement.contracts``):

- ``bounty``: :data:`BOUNTY` per customer that becomes effective;
- ``tiered_bounty`` (``most_favored``): the n-th customer to become effective for the partner in
  an Asia/Shanghai month earns the bounty of the tier n falls in (:data:`TIERS`, marginal: the
  first 100 earn ¥20 each, the 101st–500th ¥25, beyond ¥30), counted by one atomic upsert;
- ``revenue_share`` (``joint_operation``): :data:`REVENUE_SHARE_BPS` of the customer's spend
  through the channel in its first :data:`REVENUE_SHARE_DAYS` days, accrued from the moment it
  becomes effective (the spend that made it effective included), half-up per slice.

An accrual posts ``incentive_expense:<partner>`` (debit) against ``incentive_payable:<partner>``
(credit). While a hold check says so (a risk case open on the customer or its sub-channel) the
accrual is recorded ``held`` and not journaled; :func:`release_held` journals it once the case is
gone. :func:`claw_back` reverses what a customer earned in the :data:`CLAWBACK_DAYS` before fraud
was confirmed. Risk is wired in by the lead through :func:`register_hold_check`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from gateway.channels.incentives.models import (
    ChannelIncentive,
    ChannelIncentiveMonth,
    IncentiveStatus,
)
from gateway.channels.lifecycle.models import ChannelMilestone
from gateway.clock import SHANGHAI, business_date_of
from gateway.db import dialect_insert, table_of, utcnow
from gateway.ids import new_id
from gateway.money import basis_points
from gateway.settlement.contracts import contract_in_force
from gateway.settlement.ledger.accounts import AccountType, account
from gateway.settlement.ledger.service import post_journal

BOUNTY = 2_000  # ¥20 per effective customer
# (up to and including the n-th effective customer of the month, bounty each); None = beyond.
TIERS: tuple[tuple[int | None, int], ...] = ((100, 2_000), (500, 2_500), (None, 3_000))
REVENUE_SHARE_BPS = 100  # 1% of the customer's spend
REVENUE_SHARE_DAYS = 90
CLAWBACK_DAYS = 90

# (session, customer_id, sub_channel) → True while an open risk case holds the customer's
# incentives. Registered by whoever knows about cases; none registered means never held.
HoldCheck = Callable[[AsyncSession, str, str | None], Awaitable[bool]]
_hold_checks: list[HoldCheck] = []


def register_hold_check(check: HoldCheck) -> HoldCheck:
    """Add a hold predicate (usable as a decorator); registering the same one twice is a no-op."""
    if check not in _hold_checks:
        _hold_checks.append(check)
    return check


def unregister_hold_check(check: HoldCheck) -> None:
    if check in _hold_checks:
        _hold_checks.remove(check)


async def is_held(session: AsyncSession, customer_id: str, sub_channel: str | None) -> bool:
    for check in _hold_checks:
        if await check(session, customer_id, sub_channel):
            return True
    return False


def tier_bounty(n: int) -> int:
    """The bounty of the n-th effective customer of a month under ``tiered_bounty``."""
    for upto, amount in TIERS:
        if upto is None or n <= upto:
            return amount
    raise AssertionError("TIERS must end with an open tier")


def month_of(at: datetime) -> str:
    return at.astimezone(SHANGHAI).strftime("%Y-%m")


async def _count_effective(session: AsyncSession, partner_id: str, month: str) -> int:
    """Count one more effective customer for the partner's month; returns its rank n."""
    table = table_of(ChannelIncentiveMonth)
    stmt = (
        dialect_insert(session.get_bind().dialect.name, table)
        .values(partner_id=partner_id, month=month, effective=1)
        .on_conflict_do_update(
            index_elements=["partner_id", "month"], set_={"effective": table.c.effective + 1}
        )
        .returning(table.c.effective)
    )
    return int((await session.execute(stmt)).scalar_one())


def _lines(partner_id: str, amount: int) -> list[tuple[str, int]]:
    return [
        (account(AccountType.INCENTIVE_EXPENSE, partner_id), amount),
        (account(AccountType.INCENTIVE_PAYABLE, partner_id), -amount),
    ]


async def _journal(session: AsyncSession, incentive: ChannelIncentive, at: datetime) -> None:
    await post_journal(
        session,
        reference=f"incentive:{incentive.id}",
        kind="channels.incentive",
        lines=_lines(incentive.partner_id, incentive.amount),
        occurred_at=at,
        partner_id=incentive.partner_id,
    )


async def _accrue(
    session: AsyncSession,
    milestone: ChannelMilestone,
    scheme: str,
    basis: str,
    amount: int,
    at: datetime,
) -> ChannelIncentive | None:
    if amount <= 0:
        return None
    held = await is_held(session, milestone.customer_id, milestone.sub_channel)
    incentive = ChannelIncentive(
        id=new_id("inc"),
        customer_id=milestone.customer_id,
        partner_id=milestone.partner_id,
        scheme=scheme,
        basis=basis,
        amount=amount,
        status=(IncentiveStatus.HELD if held else IncentiveStatus.ACCRUED).value,
        accrued_at=at,
    )
    session.add(incentive)
    await session.flush()
    if held:
        milestone.incentive_held += amount
    else:
        await _journal(session, incentive, at)
        milestone.incentive_accrued += amount
    await session.flush()
    return incentive


async def _scheme(session: AsyncSession, partner_id: str, at: datetime) -> str:
    return (await contract_in_force(session, partner_id, business_date_of(at))).incentive_scheme


async def on_effective(session: AsyncSession, milestone: ChannelMilestone, at: datetime) -> None:
    """The customer just became effective: accrue what its acquiring partner earns for it."""
    scheme = await _scheme(session, milestone.partner_id, at)
    if scheme == "revenue_share":
        amount = basis_points(milestone.window_amount, REVENUE_SHARE_BPS)
    elif scheme == "tiered_bounty":
        amount = tier_bounty(await _count_effective(session, milestone.partner_id, month_of(at)))
    else:
        amount = BOUNTY
    await _accrue(session, milestone, scheme, "effective", amount, at)


async def on_spend(
    session: AsyncSession,
    milestone: ChannelMilestone,
    transaction_id: str,
    amount: int,
    at: datetime,
) -> None:
    """An effective customer spent again: a revenue-share partner earns its slice."""
    if at - milestone.opened_at >= timedelta(days=REVENUE_SHARE_DAYS):
        return
    scheme = await _scheme(session, milestone.partner_id, at)
    if scheme == "revenue_share":
        share = basis_points(amount, REVENUE_SHARE_BPS)
        await _accrue(session, milestone, scheme, f"txn:{transaction_id}", share, at)


async def _milestone(session: AsyncSession, customer_id: str) -> ChannelMilestone | None:
    row: ChannelMilestone | None = await session.scalar(
        select(ChannelMilestone)
        .where(col(ChannelMilestone.customer_id) == customer_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return row


async def claw_back(
    session: AsyncSession, customer_id: str, reason: str, *, at: datetime | None = None
) -> int:
    """Fraud confirmed on the customer at ``at`` (now): reverse its incentives accrued in the
    :data:`CLAWBACK_DAYS` before, cancel held ones whatever their age (never paid, they stay
    held as long as a case does), flag the customer. Returns the fen reversed in the ledger. A
    second call finds nothing left to reverse (idempotent)."""
    at = at or utcnow()
    milestone = await _milestone(session, customer_id)
    rows = (
        await session.scalars(
            select(ChannelIncentive)
            .where(
                col(ChannelIncentive.customer_id) == customer_id,
                sa.or_(
                    sa.and_(
                        col(ChannelIncentive.status) == IncentiveStatus.ACCRUED.value,
                        col(ChannelIncentive.accrued_at) >= at - timedelta(days=CLAWBACK_DAYS),
                    ),
                    col(ChannelIncentive.status) == IncentiveStatus.HELD.value,
                ),
            )
            .order_by(col(ChannelIncentive.id))
            .with_for_update()
        )
    ).all()
    reversed_total = 0
    for incentive in rows:
        if incentive.status == IncentiveStatus.ACCRUED.value:
            await post_journal(
                session,
                reference=f"incentive:{incentive.id}:clawback",
                kind="channels.incentive_clawback",
                lines=[
                    (code, -fen) for code, fen in _lines(incentive.partner_id, incentive.amount)
                ],
                occurred_at=at,
                partner_id=incentive.partner_id,
            )
            reversed_total += incentive.amount
            if milestone is not None:
                milestone.incentive_clawed_back += incentive.amount
        elif milestone is not None:
            milestone.incentive_held -= incentive.amount
        incentive.status = IncentiveStatus.CLAWED_BACK.value
        incentive.clawed_back_at = at
        incentive.reason = reason[:500]
    if milestone is not None:
        milestone.flagged = True
        milestone.updated_at = utcnow()
    await session.flush()
    return reversed_total


async def release_held(session: AsyncSession, customer_id: str) -> int:
    """Journal the customer's held incentives once no hold check holds them any more (a case
    closed as not fraud). Returns the fen released; 0 while still held."""
    milestone = await _milestone(session, customer_id)
    if milestone is None or await is_held(session, customer_id, milestone.sub_channel):
        return 0
    rows = (
        await session.scalars(
            select(ChannelIncentive)
            .where(
                col(ChannelIncentive.customer_id) == customer_id,
                col(ChannelIncentive.status) == IncentiveStatus.HELD.value,
            )
            .order_by(col(ChannelIncentive.id))
            .with_for_update()
        )
    ).all()
    now = utcnow()
    released = 0
    for incentive in rows:
        incentive.status = IncentiveStatus.ACCRUED.value
        await _journal(session, incentive, now)
        milestone.incentive_held -= incentive.amount
        milestone.incentive_accrued += incentive.amount
        released += incentive.amount
    milestone.updated_at = now
    await session.flush()
    return released


async def incentives_of(session: AsyncSession, customer_id: str) -> list[ChannelIncentive]:
    rows = await session.scalars(
        select(ChannelIncentive)
        .where(col(ChannelIncentive.customer_id) == customer_id)
        .order_by(col(ChannelIncentive.id))
    )
    return list(rows.all())
