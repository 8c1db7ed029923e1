"""Partner-reported lifecycle events (``POST /v1/events``): recorded, and applied to retention
at once (a login in days 31–60 retains the customer like a transaction would)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from gateway.channels.lifecycle.models import ChannelEvent
from gateway.channels.lifecycle.service import apply_activity
from gateway.customers.service import customer_for_partner
from gateway.db import utcnow
from gateway.errors import BusinessRuleViolation, Conflict
from gateway.ids import new_id

# Clocks differ a little; an event further in the future than this is refused.
CLOCK_SKEW = timedelta(minutes=5)


async def record_event(
    session: AsyncSession,
    partner_id: str,
    *,
    type_: str,
    customer_id: str,
    occurred_at: datetime | None,
    external_ref: str | None,
) -> ChannelEvent:
    await customer_for_partner(session, customer_id, partner_id)  # 404 for a foreign customer
    now = utcnow()
    at = occurred_at or now
    if at.tzinfo is None:
        raise BusinessRuleViolation("occurred_at needs a time zone.", code="timestamp_invalid")
    if at > now + CLOCK_SKEW:
        raise BusinessRuleViolation("occurred_at is in the future.", code="timestamp_in_future")
    if external_ref is not None:
        taken = await session.scalar(
            select(ChannelEvent.id).where(
                col(ChannelEvent.partner_id) == partner_id,
                col(ChannelEvent.external_ref) == external_ref,
            )
        )
        if taken is not None:
            raise Conflict(
                "This external_ref already names another event.", code="external_ref_conflict"
            )
    event = ChannelEvent(
        id=new_id("pev"),
        partner_id=partner_id,
        customer_id=customer_id,
        type=type_,
        external_ref=external_ref,
        occurred_at=at,
        created_at=now,
    )
    session.add(event)
    await session.flush()
    await apply_activity(session, customer_id, at)
    return event
