"""Smart community (智慧社区): communities, owners, fee bills, discounted payments."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from gateway.core_banking import CoreBanking
from gateway.customers.models import CustomerLink
from gateway.db import utcnow
from gateway.errors import BusinessRuleViolation, Conflict, FieldError, ValidationFailed
from gateway.ids import new_id
from gateway.partners.ownership import owned
from gateway.pii import PiiVault
from gateway.scenarios.community.models import Bill, BillStatus, Community, CommunityOwner
from gateway.scenarios.community.schemas import BillIn, CommunityCreate, CommunityStats, PeriodStats
from gateway.scenarios.models import Transaction
from gateway.scenarios.payments import collect, payer_for

KEY = "community"


async def create_community(
    session: AsyncSession, partner_id: str, data: CommunityCreate
) -> Community:
    taken = await session.scalar(
        select(Community.id).where(
            col(Community.partner_id) == partner_id,
            col(Community.external_ref) == data.external_ref,
        )
    )
    if taken is not None:
        raise Conflict("A community with this external_ref exists.", code="external_ref_conflict")
    community = Community(
        id=new_id("cmt"),
        partner_id=partner_id,
        external_ref=data.external_ref,
        name=data.name,
        address=data.address,
        households=data.households,
    )
    session.add(community)
    await session.flush()
    return community


async def link_owner(
    session: AsyncSession, community_id: str, customer_id: str, unit: str | None
) -> None:
    owner = await session.get(CommunityOwner, (community_id, customer_id))
    if owner is None:
        session.add(CommunityOwner(community_id=community_id, customer_id=customer_id, unit=unit))
    elif unit:
        owner.unit = unit


async def _linked_customers(
    session: AsyncSession, partner_id: str, customer_ids: set[str]
) -> set[str]:
    rows = await session.scalars(
        select(CustomerLink.customer_id).where(
            col(CustomerLink.partner_id) == partner_id,
            col(CustomerLink.customer_id).in_(customer_ids),
        )
    )
    return set(rows.all())


async def issue_bills(session: AsyncSession, partner_id: str, items: list[BillIn]) -> list[Bill]:
    """All bills or none: every item must name the partner's community and customer."""
    communities = {
        c.id
        for c in (
            await session.scalars(select(Community).where(col(Community.partner_id) == partner_id))
        ).all()
    }
    customers = await _linked_customers(session, partner_id, {i.customer_id for i in items})
    errors = [
        FieldError(f"items[{n}].community_id", "not_found", "No such community.")
        for n, i in enumerate(items)
        if i.community_id not in communities
    ] + [
        FieldError(f"items[{n}].customer_id", "not_found", "No such customer.")
        for n, i in enumerate(items)
        if i.customer_id not in customers
    ]
    if errors:
        raise ValidationFailed("Some bills name unknown communities or customers.", errors=errors)
    bills = [
        Bill(
            id=new_id("bil"),
            partner_id=partner_id,
            community_id=i.community_id,
            unit=i.unit,
            customer_id=i.customer_id,
            item=i.item,
            period=i.period,
            amount=i.amount,
            due_date=i.due_date,
        )
        for i in items
    ]
    session.add_all(bills)
    try:
        await session.flush()
    except IntegrityError as e:
        raise Conflict(
            "A bill for that unit, item and period exists.", code="bill_duplicate"
        ) from e
    return bills


async def cancel_bill(session: AsyncSession, partner_id: str, bill_id: str) -> Bill:
    bill = await owned(session, Bill, bill_id, partner_id, for_update=True)
    if bill.status != BillStatus.UNPAID:
        raise Conflict(f"The bill is {bill.status}.", code=f"bill_already_{bill.status}")
    bill.status = BillStatus.CANCELLED.value
    await session.flush()
    return bill


async def pay_bill(
    session: AsyncSession,
    vault: PiiVault,
    core: CoreBanking,
    *,
    partner_id: str,
    bill_id: str,
    customer_id: str,
    reference: str,
) -> tuple[Bill, Transaction]:
    """Pay a bill in full: the owner's account, less any campaign discount, and the budget."""
    bill = await owned(session, Bill, bill_id, partner_id, for_update=True)
    if bill.status == BillStatus.PAID:
        raise Conflict("The bill is already paid.", code="bill_already_paid")
    if bill.status == BillStatus.CANCELLED:
        raise Conflict("The bill was cancelled.", code="bill_cancelled")
    if bill.customer_id != customer_id:
        raise BusinessRuleViolation(
            "The bill belongs to another customer.", code="customer_mismatch"
        )
    payer = await payer_for(session, vault, partner_id, customer_id)
    now = utcnow()
    txn = await collect(
        session,
        core,
        partner_id=partner_id,
        scenario=KEY,
        kind="payment",
        payer=payer,
        amount=bill.amount,
        reference=reference,
        purpose=f"{bill.item} {bill.period}",
        sub_channel=bill.community_id,
        external_ref=bill.id,
        subsidised=True,
    )
    marked = await session.execute(
        sa.update(Bill)
        .where(col(Bill.id) == bill.id, col(Bill.status) == BillStatus.UNPAID.value)
        .values(status=BillStatus.PAID.value, txn_id=txn.id, paid_at=now)
        .execution_options(synchronize_session="fetch")
    )
    if marked.rowcount != 1:  # type: ignore[attr-defined]
        raise Conflict("The bill is already paid.", code="bill_already_paid")
    return bill, txn


async def stats(session: AsyncSession, community: Community) -> CommunityStats:
    owners = await session.scalar(
        select(sa.func.count())
        .select_from(CommunityOwner)
        .where(col(CommunityOwner.community_id) == community.id)
    )
    paid = sa.case((col(Bill.status) == BillStatus.PAID.value, col(Bill.amount)), else_=0)
    rows = await session.execute(
        select(col(Bill.period), sa.func.sum(col(Bill.amount)), sa.func.sum(paid))
        .where(
            col(Bill.community_id) == community.id, col(Bill.status) != BillStatus.CANCELLED.value
        )
        .group_by(col(Bill.period))
        .order_by(col(Bill.period))
    )
    periods = [
        PeriodStats(period=p, billed=int(b), paid=int(d), collection_rate=round(int(d) / int(b), 4))
        for p, b, d in rows
    ]
    count = int(owners or 0)
    return CommunityStats(
        community_id=community.id,
        households=community.households,
        owners_with_accounts=count,
        coverage=round(count / community.households, 4),
        periods=periods,
    )
