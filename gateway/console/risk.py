"""The risk team's console: the case queue, take-next, a case with its evidence, decisions with
actions (the rules are worked in ``rules.py``). Every action goes through the same service
as the admin API (``gateway.risk.cases``), so it is checked and audited the same way."""

from __future__ import annotations

from typing import Any

from litestar import Request, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template
from sqlmodel import col

from gateway.console.forms import form_as
from gateway.console.pages import PAGE_SIZE, RISK_CASES, guard, is_htmx, page
from gateway.deps import DbSession, Staff
from gateway.pagination import paginate
from gateway.risk import cases, views
from gateway.risk.models import CaseStatus, RiskCase
from gateway.risk.schemas import DecideCreate
from gateway.staff.models import Role

WORKERS = (Role.RISK_ANALYST, Role.RISK_LEAD)
# suspend_partner is offered to risk leads only; the service refuses it for anyone else too.
LEAD_ONLY = {"suspend_partner"}


@get("/risk/cases", dependencies=RISK_CASES.guard())
async def case_list(
    request: Request[Any, Any, Any],
    db_session: DbSession,
    staff: Staff,
    status: FromQuery[str | None] = None,
    rule: FromQuery[str | None] = None,
    cursor: FromQuery[str | None] = None,
) -> Template:
    status = status if status in set(CaseStatus) else None
    stmt = cases.queue_query(status, rule or None)
    rows, next_cursor = await paginate(
        db_session, stmt, col(RiskCase.id), limit=PAGE_SIZE, cursor=cursor
    )
    template = "risk/_rows.html" if is_htmx(request) else "risk/list.html"
    return page(
        template,
        staff,
        rows=await views.cases_read(db_session, rows),
        next_cursor=next_cursor,
        status=status or "",
        statuses=[s.value for s in CaseStatus],
        rule=rule or "",
        rules=[r.id for r in await views.rules_read(db_session)],
        can_act=staff.has(*WORKERS),
        empty_queue=request.query_params.get("empty") == "1",
    )


@post("/risk/cases/next", dependencies=guard(*WORKERS))
async def take_next(db_session: DbSession, staff: Staff) -> Redirect:
    case = await cases.take_next(db_session, staff)
    if case is None:
        return Redirect(f"{RISK_CASES.path}?empty=1", status_code=303)
    return Redirect(f"{RISK_CASES.path}/{case.id}", status_code=303)


@get("/risk/cases/{case_id:str}", dependencies=RISK_CASES.guard())
async def case_detail(case_id: FromPath[str], db_session: DbSession, staff: Staff) -> Template:
    case = await cases.get_case(db_session, case_id)
    [read] = await views.cases_read(db_session, [case], detail=True)
    offered = [a for a in cases.ACTIONS if a not in LEAD_ONLY or staff.has(Role.RISK_LEAD)]
    return page(
        "risk/detail.html",
        staff,
        case=read,
        actions=offered,
        can_act=staff.has(*WORKERS) and read.status != CaseStatus.CLOSED,
    )


@post("/risk/cases/{case_id:str}/assign", dependencies=guard(*WORKERS))
async def assign_to_me(case_id: FromPath[str], db_session: DbSession, staff: Staff) -> Redirect:
    await cases.assign(db_session, staff, case_id, None)
    return Redirect(f"{RISK_CASES.path}/{case_id}", status_code=303)


@post("/risk/cases/{case_id:str}/decide", dependencies=guard(*WORKERS))
async def decide(
    request: Request[Any, Any, Any], case_id: FromPath[str], db_session: DbSession, staff: Staff
) -> Redirect:
    data = await form_as(request, DecideCreate, lists=("actions",))
    await cases.decide(
        db_session,
        staff,
        case_id,
        outcome=data.outcome,
        note=data.note or None,
        actions=data.actions,
    )
    return Redirect(f"{RISK_CASES.path}/{case_id}", status_code=303)


ROUTES = [case_list, take_next, case_detail, assign_to_me, decide]
