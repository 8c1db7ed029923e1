"""Channel report routes: staff see every channel, a partner its own (DESIGN §7).

Each report answers JSON, or CSV with ``?format=csv`` (a header row, one line per group).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from enum import StrEnum
from typing import Annotated, Any

from litestar import Response, get
from litestar.di import Provide
from litestar.params import FromQuery, QueryParameter

from gateway.channels.reports import service
from gateway.channels.reports.schemas import CohortReport, ConversionReport, FunnelReport
from gateway.channels.reports.service import GroupBy, Period
from gateway.csvsafe import render_csv
from gateway.deps import CurrentPartner, DbSession, Staff
from gateway.errors import BusinessRuleViolation
from gateway.staff.guards import require_role
from gateway.staff.models import Role

READERS = {"staff": Provide(require_role(Role.CHANNEL_MANAGER, Role.FINANCE, Role.AUDITOR))}
PARTNER_READ = {"scope": "channels:read"}


class Format(StrEnum):
    JSON = "json"
    CSV = "csv"


# Every report's query parameters for the range of opening dates and the answer's format.
From = Annotated[date | None, QueryParameter(name="from")]
To = Annotated[date | None, QueryParameter(name="to")]
FormatQuery = Annotated[Format, QueryParameter(name="format")]


def _check_range(date_from: date | None, date_to: date | None) -> None:
    if date_from and date_to and date_from > date_to:
        raise BusinessRuleViolation("'from' must not be after 'to'.", code="invalid_date_range")


def _csv(name: str, header: tuple[str, ...], rows: Sequence[service.Row]) -> Response[Any]:
    return Response(
        render_csv(header, [r.values() for r in rows]),
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
    )


def _answer(
    fmt: Format, name: str, header: tuple[str, ...], rows: Sequence[service.Row], report: Any
) -> Response[Any]:
    """Every report the same way: ``report`` (its rows in their envelope) as JSON, or the rows
    as the CSV ``name`` under ``header``."""
    if fmt is Format.CSV:
        return _csv(name, header, rows)
    return Response(report)


async def _funnel(
    db_session: DbSession,
    group_by: GroupBy,
    date_from: date | None,
    date_to: date | None,
    fmt: Format,
    partner_id: str | None,
) -> Response[Any]:
    _check_range(date_from, date_to)
    rows = await service.funnel(
        db_session, group_by, partner_id=partner_id, date_from=date_from, date_to=date_to
    )
    report = FunnelReport(
        group_by=group_by.value,
        date_from=date_from.isoformat() if date_from else None,
        date_to=date_to.isoformat() if date_to else None,
        data=rows,
    )
    return _answer(fmt, f"funnel-{group_by.value}", service.FUNNEL_FIELDS, rows, report)


@get(
    "/admin/v1/channels/funnel",
    tags=["channels"],
    dependencies=READERS,
    summary="Lifecycle funnel per partner, scenario, sub-channel or campaign (JSON or CSV)",
)
async def admin_funnel(
    db_session: DbSession,
    staff: Staff,
    group_by: FromQuery[GroupBy] = GroupBy.PARTNER,
    date_from: From = None,
    date_to: To = None,
    fmt: FormatQuery = Format.JSON,
) -> Response[Any]:
    return await _funnel(db_session, group_by, date_from, date_to, fmt, None)


@get(
    "/admin/v1/channels/cohorts",
    tags=["channels"],
    dependencies=READERS,
    summary="Cohort table: customers by week or month of opening and how far each got",
)
async def admin_cohorts(
    db_session: DbSession,
    staff: Staff,
    period: FromQuery[Period] = Period.WEEK,
    date_from: From = None,
    date_to: To = None,
    fmt: FormatQuery = Format.JSON,
) -> Response[Any]:
    _check_range(date_from, date_to)
    rows = await service.cohorts(db_session, period, date_from=date_from, date_to=date_to)
    report = CohortReport(period=period.value, data=rows)
    return _answer(fmt, f"cohorts-{period.value}", service.COHORT_FIELDS, rows, report)


@get(
    "/admin/v1/channels/conversions",
    tags=["channels"],
    dependencies=READERS,
    summary="AARRR step conversions per channel (acquire → activate → effective → retain → refer)",
)
async def admin_conversions(
    db_session: DbSession,
    staff: Staff,
    group_by: FromQuery[GroupBy] = GroupBy.PARTNER,
    date_from: From = None,
    date_to: To = None,
    fmt: FormatQuery = Format.JSON,
) -> Response[Any]:
    _check_range(date_from, date_to)
    rows = await service.conversions(db_session, group_by, date_from=date_from, date_to=date_to)
    report = ConversionReport(group_by=group_by.value, data=rows)
    return _answer(fmt, f"conversions-{group_by.value}", service.CONVERSION_FIELDS, rows, report)


@get(
    "/channels/funnel",
    tags=["channels"],
    opt=PARTNER_READ,
    summary="The lifecycle funnel of the calling partner's own channels (JSON or CSV)",
)
async def partner_funnel(
    db_session: DbSession,
    partner: CurrentPartner,
    group_by: FromQuery[GroupBy] = GroupBy.PARTNER,
    date_from: From = None,
    date_to: To = None,
    fmt: FormatQuery = Format.JSON,
) -> Response[Any]:
    return await _funnel(db_session, group_by, date_from, date_to, fmt, partner.id)


ADMIN_ROUTES = [admin_funnel, admin_cohorts, admin_conversions]
PARTNER_ROUTES = [partner_funnel]
