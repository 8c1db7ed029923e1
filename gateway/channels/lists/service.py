"""Marketing lists from milestone columns, RFM value tiers, and the daily moments of truth.

Segments (``GET /admin/v1/channels/lists?segment=``):

- ``opened_not_activated_14d``: opened at least 14 days ago, no transaction yet;
- ``effective_dormant_30d``: effective, and no activity for 30 days;
- ``high_value`` / ``sub_value`` / ``potential_value`` / ``low_value``: the daily value tier.

A list for a credit product (``product_type`` ``credit_card`` or ``consumer_loan``) never holds a
campus student (DESIGN §9, 银监发〔2009〕60号). The campus adapter knows who is a student and
registers a SQL predicate with :func:`register_credit_exclusion`; until one is registered every
customer who ever came through the ``campus`` scenario is excluded (staff too: over-excluding is
the compliant side).

Value tiers come from RFM scores over the customer's own succeeded transactions of the last
:data:`RFM_DAYS` days (refunds excluded), each scored 1–5 on fixed thresholds:
``high`` (M ≥ 4, F ≥ 3, R ≥ 3), ``sub`` (M ≥ 3), ``potential`` (R ≥ 3), else ``low``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from gateway.channels.lifecycle.models import ChannelMilestone as M
from gateway.channels.lifecycle.service import REFUND_KINDS, moment
from gateway.customers.models import Touchpoint
from gateway.db import utcnow
from gateway.scenarios.models import Transaction, TxnStatus


class Segment(StrEnum):
    OPENED_NOT_ACTIVATED_14D = "opened_not_activated_14d"
    EFFECTIVE_DORMANT_30D = "effective_dormant_30d"
    HIGH_VALUE = "high_value"
    SUB_VALUE = "sub_value"
    POTENTIAL_VALUE = "potential_value"
    LOW_VALUE = "low_value"


CREDIT_PRODUCTS = frozenset({"credit_card", "consumer_loan"})
INACTIVE_DAYS = 14
DORMANT_DAYS = 30
RFM_DAYS = 90
MOMENTS_PER_PASS = 5_000
_TIER_OF_SEGMENT = {
    Segment.HIGH_VALUE: "high",
    Segment.SUB_VALUE: "sub",
    Segment.POTENTIAL_VALUE: "potential",
    Segment.LOW_VALUE: "low",
}

# customer id column → a SQL condition true for a customer credit products must not reach.
CreditExclusion = Callable[[Any], sa.ColumnElement[bool]]
_credit_exclusions: list[CreditExclusion] = []


def register_credit_exclusion(predicate: CreditExclusion) -> CreditExclusion:
    if predicate not in _credit_exclusions:
        _credit_exclusions.append(predicate)
    return predicate


def unregister_credit_exclusion(predicate: CreditExclusion) -> None:
    if predicate in _credit_exclusions:
        _credit_exclusions.remove(predicate)


def came_through_campus(customer_id: Any) -> sa.ColumnElement[bool]:
    """The conservative default: any touchpoint of the customer in the campus scenario."""
    return sa.exists().where(
        col(Touchpoint.customer_id) == customer_id, col(Touchpoint.scenario) == "campus"
    )


def credit_excluded(customer_id: Any) -> sa.ColumnElement[bool]:
    predicates = _credit_exclusions or [came_through_campus]
    return sa.or_(*(p(customer_id) for p in predicates))


def segment_query(
    segment: Segment,
    *,
    now: datetime,
    partner_id: str | None = None,
    product_type: str | None = None,
) -> sa.Select[Any]:
    stmt = select(M)
    if segment is Segment.OPENED_NOT_ACTIVATED_14D:
        stmt = stmt.where(
            col(M.activated_at).is_(None), col(M.opened_at) <= now - timedelta(days=INACTIVE_DAYS)
        )
    elif segment is Segment.EFFECTIVE_DORMANT_30D:
        stmt = stmt.where(
            col(M.effective_at).is_not(None),
            col(M.last_active_at) <= now - timedelta(days=DORMANT_DAYS),
        )
    else:
        stmt = stmt.where(col(M.value_tier) == _TIER_OF_SEGMENT[segment])
    if partner_id is not None:
        stmt = stmt.where(col(M.partner_id) == partner_id)
    if product_type in CREDIT_PRODUCTS:
        stmt = stmt.where(sa.not_(credit_excluded(col(M.customer_id))))
    return stmt


# -- value tiers -------------------------------------------------------------------------------


def _score(value: float, thresholds: tuple[float, float, float, float]) -> int:
    """5 for ≥ the first threshold down to 1 below the last (thresholds descend)."""
    for n, threshold in enumerate(thresholds):
        if value >= threshold:
            return 5 - n
    return 1


def rfm_tier(days_since_last: int, count: int, amount: int) -> str:
    r = _score(-days_since_last, (-7, -14, -30, -60))
    f = _score(count, (20, 10, 5, 2))
    m = _score(amount, (500_000, 200_000, 50_000, 10_000))
    if m >= 4 and f >= 3 and r >= 3:
        return "high"
    if m >= 3:
        return "sub"
    if r >= 3:
        return "potential"
    return "low"


async def recompute_value_tiers(session: AsyncSession, *, now: datetime | None = None) -> int:
    """Recompute every customer's tier from the last :data:`RFM_DAYS` days; returns how many
    customers had transactions. One grouped query, then updates in chunks (a daily batch)."""
    now = now or utcnow()
    since = now - timedelta(days=RFM_DAYS)
    rows = (
        await session.execute(
            sa.select(
                col(Transaction.customer_id),
                sa.func.max(col(Transaction.occurred_at)),
                sa.func.count(),
                sa.func.sum(col(Transaction.amount)),
            )
            .where(
                col(Transaction.customer_id).is_not(None),
                col(Transaction.status) == TxnStatus.SUCCEEDED.value,
                col(Transaction.kind).not_in(REFUND_KINDS),
                col(Transaction.occurred_at) >= since,
            )
            .group_by(col(Transaction.customer_id))
        )
    ).all()
    await session.execute(
        sa.update(M).values(value_tier="low").execution_options(synchronize_session=False)
    )
    by_tier: dict[str, list[str]] = {}
    for customer_id, last_at, count, amount in rows:
        last = last_at if last_at.tzinfo else last_at.replace(tzinfo=now.tzinfo)
        tier = rfm_tier((now - last).days, int(count), int(amount))
        by_tier.setdefault(tier, []).append(str(customer_id))
    for tier, ids in by_tier.items():
        for start in range(0, len(ids), 500):
            await session.execute(
                sa.update(M)
                .where(col(M.customer_id).in_(ids[start : start + 500]))
                .values(value_tier=tier)
                .execution_options(synchronize_session=False)
            )
    return len(rows)


# -- daily moments of truth --------------------------------------------------------------------


async def daily_moments(
    session: AsyncSession, *, now: datetime | None = None, limit: int = MOMENTS_PER_PASS
) -> int:
    """Tell acquiring partners of customers 14 days opened but inactive (once) and of newly
    dormant effective customers (again after each return). Returns how many were told."""
    now = now or utcnow()
    told = 0
    inactive = await session.scalars(
        select(M)
        .where(
            col(M.activated_at).is_(None),
            col(M.inactive_notified_at).is_(None),
            col(M.opened_at) <= now - timedelta(days=INACTIVE_DAYS),
        )
        .order_by(col(M.customer_id))
        .limit(limit)
    )
    for milestone in inactive.all():
        milestone.inactive_notified_at = now
        await moment(session, milestone, "opened_inactive_14d")
        told += 1
    dormant = await session.scalars(
        select(M)
        .where(
            col(M.effective_at).is_not(None),
            col(M.last_active_at) <= now - timedelta(days=DORMANT_DAYS),
            sa.or_(
                col(M.dormant_notified_at).is_(None),
                col(M.dormant_notified_at) < col(M.last_active_at),
            ),
        )
        .order_by(col(M.customer_id))
        .limit(limit)
    )
    for milestone in dormant.all():
        milestone.dormant_notified_at = now
        await moment(
            session,
            milestone,
            "dormant_30d",
            last_active_at=milestone.last_active_at.isoformat()
            if milestone.last_active_at
            else None,
        )
        told += 1
    await session.flush()
    return told
