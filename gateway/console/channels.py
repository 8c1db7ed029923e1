"""The channel dashboard: over a range of opening dates, the lifecycle funnel per partner,
scenario, sub-channel or campaign, the monthly cohorts as a heat map and acquisition over time
per channel, each as a table or chart drawn server-side in SVG (no front-end build, no chart
library) with the CSV of the same report service the admin API uses."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any

from litestar import MediaType, Request, Response, get
from litestar.params import FromQuery, QueryParameter

from gateway.channels.reports import service
from gateway.channels.reports.routes import _check_range, _csv
from gateway.channels.reports.service import FunnelRow, GroupBy, Period
from gateway.console.charts import COHORT_STAGES, acquisition_chart, cohort_heat_map
from gateway.console.i18n import N_
from gateway.console.pages import CHANNELS, is_htmx, page
from gateway.deps import DbSession, Staff
from gateway.errors import FieldError, ValidationFailed

# The funnel's stages in order, each drawn as one bar per group.
STAGES = (
    ("opened", N_("Opened")),
    ("activated", N_("Activated")),
    ("effective", N_("Effective")),
    ("retained_30d", N_("Retained 30 days")),
    ("retained_90d", N_("Retained 90 days")),
)
BAR = 14  # px per bar
GAP = 12  # px between groups
LABEL_WIDTH = 220  # px for the group names left of the bars
PLOT_WIDTH = 520  # px for the longest bar


@dataclass(frozen=True, slots=True)
class Bar:
    key: str
    stage: str
    value: int
    x: int
    y: int
    width: int


@dataclass(frozen=True, slots=True)
class Chart:
    bars: list[Bar]
    groups: list[tuple[str, int]]  # a group's name and the y of its first bar
    width: int
    height: int
    label_width: int


def funnel_chart(rows: list[FunnelRow]) -> Chart:
    """Horizontal bars, one block per group and one bar per stage, scaled to the largest."""
    top = max((max(getattr(r, s) for s, _ in STAGES) for r in rows), default=0) or 1
    bars, groups = [], []
    y = 0
    for row in rows:
        key = row.key or "—"
        groups.append((key, y))
        for stage, _ in STAGES:
            value = int(getattr(row, stage))
            width = round(value * PLOT_WIDTH / top)
            bars.append(Bar(key, stage, value, LABEL_WIDTH, y, width))
            y += BAR
        y += GAP
    return Chart(bars, groups, LABEL_WIDTH + PLOT_WIDTH + 60, max(y, 1), LABEL_WIDTH)


def _date(field: str, value: str | None) -> date | None:
    """A date input's value: empty when the person left it blank, as forms send it."""
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError as e:
        raise ValidationFailed(errors=[FieldError(field, "invalid", "not a date")]) from e


def _range(from_: str | None, to: str | None) -> tuple[date | None, date | None]:
    date_from, date_to = _date("from", from_), _date("to", to)
    _check_range(date_from, date_to)
    return date_from, date_to


@get("/channels", dependencies=CHANNELS.guard(), media_type=MediaType.HTML)
async def funnel_dashboard(
    request: Request[Any, Any, Any],
    db_session: DbSession,
    staff: Staff,
    group_by: FromQuery[GroupBy] = GroupBy.PARTNER,
    period: FromQuery[Period] = Period.WEEK,
    from_: Annotated[str | None, QueryParameter(name="from")] = None,
    to: Annotated[str | None, QueryParameter(name="to")] = None,
    fmt: Annotated[str, QueryParameter(name="format")] = "html",
) -> Any:
    date_from, date_to = _range(from_, to)
    rows = await service.funnel(db_session, group_by, date_from=date_from, date_to=date_to)
    if fmt == "csv":
        response: Response[Any] = _csv(f"funnel-{group_by.value}", service.FUNNEL_FIELDS, rows)
        return response
    cohorts = await service.cohorts(db_session, Period.MONTH, date_from=date_from, date_to=date_to)
    acquired = await service.acquisition(
        db_session, group_by, period, date_from=date_from, date_to=date_to
    )
    template = "channels/_funnel.html" if is_htmx(request) else "channels/funnel.html"
    return page(
        template,
        staff,
        rows=rows,
        chart=funnel_chart(rows),
        stages=STAGES,
        heat_map=cohort_heat_map(cohorts),
        cohort_stages=COHORT_STAGES,
        acquisition=acquisition_chart(acquired),
        group_by=group_by.value,
        group_bys=[g.value for g in GroupBy],
        period=period.value,
        periods=[p.value for p in Period],
        date_from=date_from.isoformat() if date_from else "",
        date_to=date_to.isoformat() if date_to else "",
    )


@get("/channels/cohorts.csv", dependencies=CHANNELS.guard())
async def cohorts_csv(
    db_session: DbSession,
    staff: Staff,
    from_: Annotated[str | None, QueryParameter(name="from")] = None,
    to: Annotated[str | None, QueryParameter(name="to")] = None,
) -> Response[Any]:
    """The heat map's figures: the admin API's monthly cohort report as CSV."""
    date_from, date_to = _range(from_, to)
    rows = await service.cohorts(db_session, Period.MONTH, date_from=date_from, date_to=date_to)
    return _csv("cohorts-month", service.COHORT_FIELDS, rows)


@get("/channels/acquisition.csv", dependencies=CHANNELS.guard())
async def acquisition_csv(
    db_session: DbSession,
    staff: Staff,
    group_by: FromQuery[GroupBy] = GroupBy.PARTNER,
    period: FromQuery[Period] = Period.WEEK,
    from_: Annotated[str | None, QueryParameter(name="from")] = None,
    to: Annotated[str | None, QueryParameter(name="to")] = None,
) -> Response[Any]:
    """The acquisition chart's figures: openings per period and channel as CSV."""
    date_from, date_to = _range(from_, to)
    rows = await service.acquisition(
        db_session, group_by, period, date_from=date_from, date_to=date_to
    )
    return _csv(f"acquisition-{group_by.value}-{period.value}", service.ACQUISITION_FIELDS, rows)


ROUTES = [funnel_dashboard, cohorts_csv, acquisition_csv]
