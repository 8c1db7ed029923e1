"""Settlements and reconciliation for finance: the day's settlements with their payouts, a run
for a business date, failed payouts retried, and the suspense queue worked with a note."""

from __future__ import annotations

from datetime import date
from typing import Any

from litestar import Request, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template
from sqlmodel import col, select

from gateway.console.forms import form_as
from gateway.console.pages import RECONCILIATION, SETTLEMENTS, guard, list_page
from gateway.deps import AppSettings, DbSession, Staff
from gateway.settlement import payouts, reconciliation, runs
from gateway.settlement.models import (
    ExceptionStatus,
    PayoutStatus,
    ReconciliationException,
    Settlement,
)
from gateway.settlement.schemas import ResolveCreate, RunCreate
from gateway.staff.models import Role


@get("/settlements", dependencies=SETTLEMENTS.guard())
async def settlement_list(
    request: Request[Any, Any, Any],
    db_session: DbSession,
    staff: Staff,
    status: FromQuery[str | None] = None,
    business_date: FromQuery[date | None] = None,
    cursor: FromQuery[str | None] = None,
) -> Template:
    stmt = select(Settlement)
    if status:
        stmt = stmt.where(col(Settlement.payout_status) == status)
    if business_date:
        stmt = stmt.where(col(Settlement.business_date) == business_date)
    return await list_page(
        request,
        db_session,
        staff,
        stmt,
        col(Settlement.id),
        cursor,
        template="settlement/list.html",
        rows_template="settlement/_rows.html",
        status=status or "",
        statuses=[s.value for s in PayoutStatus],
        business_date=business_date.isoformat() if business_date else "",
        can_act=staff.has(Role.FINANCE),
    )


@post("/settlements/run", dependencies=guard(Role.FINANCE))
async def run_settlement(
    request: Request[Any, Any, Any], db_session: DbSession, staff: Staff, settings: AppSettings
) -> Redirect:
    data = await form_as(request, RunCreate)
    await runs.start_run(
        db_session, data.business_date, staff.actor, production=settings.is_production
    )
    return Redirect(f"{SETTLEMENTS.path}?business_date={data.business_date}", status_code=303)


@post("/settlements/{settlement_id:str}/retry-payout", dependencies=guard(Role.FINANCE))
async def retry_payout(
    settlement_id: FromPath[str], db_session: DbSession, staff: Staff
) -> Redirect:
    await payouts.retry_payout(db_session, settlement_id, staff.actor)
    return Redirect(SETTLEMENTS.path, status_code=303)


@get("/reconciliation", dependencies=RECONCILIATION.guard())
async def exception_list(
    request: Request[Any, Any, Any],
    db_session: DbSession,
    staff: Staff,
    status: FromQuery[str | None] = ExceptionStatus.OPEN.value,
    cursor: FromQuery[str | None] = None,
) -> Template:
    stmt = select(ReconciliationException)
    if status:
        stmt = stmt.where(col(ReconciliationException.status) == status)
    return await list_page(
        request,
        db_session,
        staff,
        stmt,
        col(ReconciliationException.id),
        cursor,
        template="settlement/exceptions.html",
        rows_template="settlement/_exceptions.html",
        status=status or "",
        statuses=[s.value for s in ExceptionStatus],
        can_act=staff.has(Role.FINANCE),
    )


@post("/reconciliation/{exception_id:str}/resolve", dependencies=guard(Role.FINANCE))
async def resolve_exception(
    request: Request[Any, Any, Any],
    exception_id: FromPath[str],
    db_session: DbSession,
    staff: Staff,
) -> Redirect:
    data = await form_as(request, ResolveCreate)
    await reconciliation.resolve(db_session, exception_id, data.note, staff.actor)
    return Redirect(RECONCILIATION.path, status_code=303)


ROUTES = [settlement_list, run_settlement, retry_payout, exception_list, resolve_exception]
