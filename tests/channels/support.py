"""Helpers for channel tests: a population scripted straight into the gateway's own tables.

Customers and transactions are written through the ORM exactly as the customers module and the
scenarios write them (a touchpoint of kind ``opened``, a succeeded ``transactions`` row), with
the times a test needs, so milestones are fed by the same mapper events and jobs as in service.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from gateway.channels.lifecycle.models import ChannelMilestone
from gateway.clock import business_date_of
from gateway.customers.models import Customer, CustomerLink, Touchpoint
from gateway.ids import new_id
from gateway.scenarios.models import Transaction


async def seed_customer(
    s: AsyncSession,
    partner_id: str,
    at: datetime,
    *,
    scenario: str = "community",
    sub_channel: str | None = None,
    campaign: str | None = None,
    referral_code: str | None = None,
) -> str:
    cid = new_id("cus")
    s.add(
        Customer(
            id=cid,
            id_index=cid,
            phone_index=cid,
            name="x",
            id_number="x",
            phone="x",
            account_no="x",
            birth_date=date(1990, 1, 1),
            acquired_by=partner_id,
            created_at=at,
        )
    )
    await s.flush()
    s.add(CustomerLink(partner_id=partner_id, customer_id=cid, created_at=at))
    s.add(
        Touchpoint(
            id=new_id("tch"),
            customer_id=cid,
            partner_id=partner_id,
            scenario=scenario,
            sub_channel=sub_channel,
            campaign=campaign,
            referral_code=referral_code,
            kind="opened",
            created_at=at,
        )
    )
    await s.flush()
    return cid


async def seed_txn(
    s: AsyncSession,
    partner_id: str,
    customer_id: str,
    amount: int,
    at: datetime,
    *,
    kind: str = "payment",
    status: str = "succeeded",
) -> str:
    tid = new_id("txn")
    s.add(
        Transaction(
            id=tid,
            partner_id=partner_id,
            scenario="community",
            kind=kind,
            status=status,
            customer_id=customer_id,
            amount=amount,
            reference=f"test:{tid}",
            occurred_at=at,
            business_date=business_date_of(at),
        )
    )
    await s.flush()
    return tid


async def milestone(s: AsyncSession, customer_id: str) -> ChannelMilestone:
    row = await s.get(ChannelMilestone, customer_id, populate_existing=True)
    assert row is not None
    return row


def snapshot(m: ChannelMilestone) -> dict[str, Any]:
    data = m.model_dump()
    data.pop("updated_at")
    return data
