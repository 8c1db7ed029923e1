"""Channel reports computed by the database from milestone columns (DESIGN §7).

Every report is one ``GROUP BY`` over ``channel_milestones`` filtered by the business date of
opening (``from``/``to`` inclusive), so its cost is one pass over the customers opened in the
range, and nothing is loaded into Python but the grouped rows.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from gateway.channels.lifecycle.models import ChannelMilestone as M
from gateway.money import mul_div_half_up


class GroupBy(StrEnum):
    PARTNER = "partner"
    SCENARIO = "scenario"
    SUB_CHANNEL = "sub_channel"
    CAMPAIGN = "campaign"


class Period(StrEnum):
    WEEK = "week"
    MONTH = "month"


_KEYS = {
    GroupBy.PARTNER: col(M.partner_id),
    GroupBy.SCENARIO: col(M.scenario),
    GroupBy.SUB_CHANNEL: col(M.sub_channel),
    GroupBy.CAMPAIGN: col(M.campaign),
}


def _count_true(column: Any) -> sa.ColumnElement[int]:
    return sa.func.coalesce(sa.func.sum(sa.case((column, 1), else_=0)), 0)


def _measures() -> list[sa.ColumnElement[Any]]:
    return [
        sa.func.count().label("opened"),
        sa.func.count(col(M.activated_at)).label("activated"),
        sa.func.count(col(M.effective_at)).label("effective"),
        _count_true(col(M.retained_30d)).label("retained_30d"),
        _count_true(col(M.retained_90d)).label("retained_90d"),
        sa.func.coalesce(sa.func.sum(col(M.referred)), 0).label("referred"),
        _count_true(col(M.flagged)).label("flagged"),
        sa.func.coalesce(sa.func.sum(col(M.incentive_accrued)), 0).label("incentive_accrued"),
        sa.func.coalesce(sa.func.sum(col(M.incentive_clawed_back)), 0).label(
            "incentive_clawed_back"
        ),
    ]


def _filters(
    partner_id: str | None, date_from: date | None, date_to: date | None
) -> list[sa.ColumnElement[bool]]:
    out: list[sa.ColumnElement[bool]] = []
    if partner_id is not None:
        out.append(col(M.partner_id) == partner_id)
    if date_from is not None:
        out.append(col(M.opened_date) >= date_from)
    if date_to is not None:
        out.append(col(M.opened_date) <= date_to)
    return out


class Row(msgspec.Struct, frozen=True):
    """One line of a report, declared once: its fields are the JSON answer's row and, in the
    same order, the CSV's columns."""

    def values(self) -> list[Any]:
        return [getattr(self, name) for name in self.__struct_fields__]


class FunnelRow(Row, frozen=True):
    key: str | None
    opened: int
    activated: int
    effective: int
    retained_30d: int
    retained_90d: int
    referred: int
    flagged: int
    incentive_accrued: int
    incentive_clawed_back: int
    cost_per_effective: int | None


FUNNEL_FIELDS = FunnelRow.__struct_fields__


def cost_per_effective(accrued: int, clawed_back: int, effective: int) -> int | None:
    """Net incentive paid per effective customer, half-up to the fen; none without any."""
    if effective == 0:
        return None
    return mul_div_half_up(accrued - clawed_back, 1, effective)


async def funnel(
    session: AsyncSession,
    group_by: GroupBy,
    *,
    partner_id: str | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
) -> list[FunnelRow]:
    key = _KEYS[group_by]
    stmt = (
        sa.select(key.label("key"), *_measures())
        .where(*_filters(partner_id, date_from, date_to))
        .group_by(key)
        .order_by(key)
    )
    out = []
    for key_value, *counts in (await session.execute(stmt)).all():
        opened, activated, effective, r30, r90, referred, flagged, accrued, clawed_back = map(
            int, counts
        )
        out.append(
            FunnelRow(
                key_value,
                opened,
                activated,
                effective,
                r30,
                r90,
                referred,
                flagged,
                accrued,
                clawed_back,
                cost_per_effective(accrued, clawed_back, effective),
            )
        )
    return out


def rate(numerator: int, denominator: int) -> float | None:
    """A share to four decimals (not money); none when nothing could convert."""
    return round(numerator / denominator, 4) if denominator else None


class CohortRow(Row, frozen=True):
    cohort: str
    opened: int
    activated: int
    effective: int
    retained_30d: int
    retained_90d: int
    referred: int
    activation_rate: float | None
    effective_rate: float | None
    retention_30d_rate: float | None
    retention_90d_rate: float | None


COHORT_FIELDS = CohortRow.__struct_fields__


async def cohorts(
    session: AsyncSession,
    period: Period,
    *,
    partner_id: str | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
) -> list[CohortRow]:
    """Customers grouped by the week (its Monday) or month they opened in, and how far each
    cohort got; rates are of the cohort's openings."""
    key = col(M.cohort_week) if period is Period.WEEK else col(M.cohort_month)
    stmt = (
        sa.select(key.label("cohort"), *_measures()[:6])
        .where(*_filters(partner_id, date_from, date_to))
        .group_by(key)
        .order_by(key)
    )
    out = []
    for r in (await session.execute(stmt)).all():
        opened = int(r.opened)
        cohort = r.cohort.isoformat() if isinstance(r.cohort, date) else str(r.cohort)
        out.append(
            CohortRow(
                cohort=cohort,
                opened=opened,
                activated=int(r.activated),
                effective=int(r.effective),
                retained_30d=int(r.retained_30d),
                retained_90d=int(r.retained_90d),
                referred=int(r.referred),
                activation_rate=rate(int(r.activated), opened),
                effective_rate=rate(int(r.effective), opened),
                retention_30d_rate=rate(int(r.retained_30d), opened),
                retention_90d_rate=rate(int(r.retained_90d), opened),
            )
        )
    return out


class ConversionRow(Row, frozen=True):
    """AARRR per channel: each stage counts customers who reached it *and* every stage before,
    so each rate is a true step conversion (acquire → activate → effective → retain → refer)."""

    key: str | None
    opened: int
    activated: int
    effective: int
    retained_30d: int
    retained_90d: int
    referring: int
    opened_to_activated: float | None
    activated_to_effective: float | None
    effective_to_retained_30d: float | None
    retained_30d_to_retained_90d: float | None
    retained_90d_to_referring: float | None


CONVERSION_FIELDS = ConversionRow.__struct_fields__


async def conversions(
    session: AsyncSession,
    group_by: GroupBy,
    *,
    partner_id: str | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
) -> list[ConversionRow]:
    key = _KEYS[group_by]
    activated = col(M.activated_at).is_not(None)
    effective = sa.and_(activated, col(M.effective_at).is_not(None))
    r30 = sa.and_(effective, col(M.retained_30d))
    r90 = sa.and_(r30, col(M.retained_90d))
    referring = sa.and_(r90, col(M.referred) > 0)
    stmt: Any = (
        sa.select(
            key.label("key"),
            sa.func.count().label("opened"),
            _count_true(activated).label("activated"),
            _count_true(effective).label("effective"),
            _count_true(r30).label("r30"),
            _count_true(r90).label("r90"),
            _count_true(referring).label("referring"),
        )
        .where(*_filters(partner_id, date_from, date_to))
        .group_by(key)
        .order_by(key)
    )
    out = []
    for r in (await session.execute(stmt)).all():
        counts = [int(r.opened), int(r.activated), int(r.effective), int(r.r30), int(r.r90)]
        counts.append(int(r.referring))
        steps = [rate(counts[i + 1], counts[i]) for i in range(5)]
        out.append(ConversionRow(r.key, *counts, *steps))
    return out


class AcquisitionRow(Row, frozen=True):
    period: str  # the week's Monday or the month, as in the cohort report
    key: str | None
    opened: int


ACQUISITION_FIELDS = AcquisitionRow.__struct_fields__


async def acquisition(
    session: AsyncSession,
    group_by: GroupBy,
    period: Period,
    *,
    partner_id: str | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
) -> list[AcquisitionRow]:
    """Openings per week (or month) of opening and per channel: acquisition over time."""
    bucket = col(M.cohort_week) if period is Period.WEEK else col(M.cohort_month)
    key = _KEYS[group_by]
    stmt: Any = (
        sa.select(bucket.label("period"), key.label("key"), sa.func.count().label("opened"))
        .where(*_filters(partner_id, date_from, date_to))
        .group_by(bucket, key)
        .order_by(bucket, key)
    )
    return [
        AcquisitionRow(
            r.period.isoformat() if isinstance(r.period, date) else str(r.period),
            r.key,
            int(r.opened),
        )
        for r in (await session.execute(stmt)).all()
    ]
