"""Risk admin routes (DESIGN §8): rules, backtests, publishing, snoozes, the case queue."""

from __future__ import annotations

from typing import Any

from litestar import Response, get, post, put
from litestar.di import Provide
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, FromQuery, JSONBody
from msgspec import UNSET
from sqlmodel import col

from gateway.deps import DbSession, Staff
from gateway.errors import BusinessRuleViolation
from gateway.pagination import DEFAULT_LIMIT, Page, paginate
from gateway.risk import backtest, cases, ruleset, views
from gateway.risk.models import CaseStatus, RiskCase, RuleStatus
from gateway.risk.schemas import (
    AssignCreate,
    BacktestCreate,
    BacktestHit,
    BacktestRead,
    CaseRead,
    DecideCreate,
    PublishRead,
    RuleCreate,
    RuleRead,
    RuleUpdate,
    SnoozeCreate,
    SnoozeRead,
    SubjectRef,
)
from gateway.staff.guards import require_role
from gateway.staff.models import Role

_readers = {"staff": Provide(require_role(Role.RISK_ANALYST, Role.RISK_LEAD, Role.AUDITOR))}
_workers = {"staff": Provide(require_role(Role.RISK_ANALYST, Role.RISK_LEAD))}
_leads = {"staff": Provide(require_role(Role.RISK_LEAD))}
TAGS = ["risk"]


def _or(value: Any, kept: Any) -> Any:
    return kept if value is UNSET else value


async def _one_rule(db_session: DbSession, rule_id: str) -> RuleRead:
    [rule] = await views.rules_read(db_session, rule_id)
    return rule


@get(
    "/admin/v1/risk/rules",
    tags=TAGS,
    dependencies=_readers,
    summary="Rules with hits and precision",
)
async def list_rules(db_session: DbSession, staff: Staff) -> Page[RuleRead]:
    await ruleset.ensure_defaults(db_session)
    return Page(data=await views.rules_read(db_session), next_cursor=None)


@get("/admin/v1/risk/rules/{rule_id:str}", tags=TAGS, dependencies=_readers)
async def get_rule(rule_id: FromPath[str], db_session: DbSession, staff: Staff) -> RuleRead:
    await ruleset.versions(db_session, rule_id)
    return await _one_rule(db_session, rule_id)


@post("/admin/v1/risk/rules", tags=TAGS, dependencies=_workers, summary="A new rule (a draft)")
async def create_rule(data: JSONBody[RuleCreate], db_session: DbSession, staff: Staff) -> RuleRead:
    rule = await ruleset.create_draft(db_session, staff, data.draft_values(), new=True)
    return await _one_rule(db_session, rule.id)


@put(
    "/admin/v1/risk/rules/{rule_id:str}",
    tags=TAGS,
    dependencies=_workers,
    summary="A new draft version of a rule",
)
async def update_rule(
    rule_id: FromPath[str], data: JSONBody[RuleUpdate], db_session: DbSession, staff: Staff
) -> RuleRead:
    current = await ruleset.latest(db_session, rule_id)
    values = {
        "id": rule_id,
        "event_type": current.event_type,
        "expression": data.expression,
        "description": _or(data.description, current.description),
        "severity": _or(data.severity, current.severity),
        "weight": _or(data.weight, current.weight),
        "subject": _or(data.subject, current.subject),
    }
    await ruleset.create_draft(db_session, staff, values, new=False)
    return await _one_rule(db_session, rule_id)


@post(
    "/admin/v1/risk/rules/{rule_id:str}/shadow",
    tags=TAGS,
    dependencies=_workers,
    status_code=200,
    summary="Run the latest draft in shadow (recorded, never acting)",
)
async def shadow_rule(rule_id: FromPath[str], db_session: DbSession, staff: Staff) -> RuleRead:
    await ruleset.shadow(db_session, staff, rule_id)
    return await _one_rule(db_session, rule_id)


@post(
    "/admin/v1/risk/rules/{rule_id:str}/backtest",
    tags=TAGS,
    dependencies=_workers,
    status_code=200,
    summary="The hits the latest version would have produced over recorded events",
)
async def backtest_rule(
    rule_id: FromPath[str], data: JSONBody[BacktestCreate], db_session: DbSession, staff: Staff
) -> BacktestRead:
    if data.to <= data.from_:
        raise BusinessRuleViolation("'to' must be after 'from'.", code="window_invalid")
    rules = await ruleset.versions(db_session, rule_id)
    candidate = rules[-1]
    result = await backtest.run(db_session, candidate, data.from_, data.to)
    published = next((r for r in rules if r.status == RuleStatus.PUBLISHED), None)
    published_hits = None
    if published is not None and published is not candidate:
        published_hits = (await backtest.run(db_session, published, data.from_, data.to)).hits
    return BacktestRead(
        rule=rule_id,
        version=candidate.version,
        status=candidate.status,
        from_=data.from_,
        to=data.to,
        evaluated=result.evaluated,
        hits=result.hits,
        errors=result.errors,
        subjects=len(result.subjects),
        published_hits=published_hits,
        sample=[
            BacktestHit(
                event_id=s["event_id"],
                occurred_at=s["occurred_at"],
                subject=SubjectRef(**s["subject"]),
                values=s["values"],
            )
            for s in result.sample
        ],
    )


@post(
    "/admin/v1/risk/rules/{rule_id:str}/publish",
    tags=TAGS,
    dependencies=_leads,
    status_code=200,
    summary="Publish the latest version (a risk lead who is not its author)",
)
async def publish_rule(rule_id: FromPath[str], db_session: DbSession, staff: Staff) -> PublishRead:
    _, version = await ruleset.publish(db_session, staff, rule_id)
    return PublishRead(rule=await _one_rule(db_session, rule_id), ruleset_version=version)


@post(
    "/admin/v1/risk/snoozes",
    tags=TAGS,
    dependencies=_workers,
    summary="Snooze a rule for a subject",
)
async def create_snooze(
    data: JSONBody[SnoozeCreate], db_session: DbSession, staff: Staff
) -> SnoozeRead:
    entry = await cases.snooze(
        db_session,
        staff,
        rule_id=data.rule,
        subject_type=data.subject.type,
        subject_id=data.subject.id,
        until=data.until,
        reason=data.reason,
    )
    return SnoozeRead(
        id=entry.id,
        rule=entry.rule_id,
        subject=data.subject,
        until=entry.until,
        reason=entry.reason,
        created_by=entry.created_by,
        created_at=entry.created_at,
    )


@get("/admin/v1/risk/cases", tags=TAGS, dependencies=_readers, summary="The case queue")
async def list_cases(
    db_session: DbSession,
    staff: Staff,
    status: FromQuery[CaseStatus | None] = None,
    rule: FromQuery[str | None] = None,
    limit: FromQuery[int] = DEFAULT_LIMIT,
    cursor: FromQuery[str | None] = None,
) -> Page[CaseRead]:
    stmt = cases.queue_query(status.value if status else None, rule)
    rows, next_cursor = await paginate(
        db_session, stmt, col(RiskCase.id), limit=limit, cursor=cursor
    )
    return Page(data=await views.cases_read(db_session, rows), next_cursor=next_cursor)


@get("/admin/v1/risk/cases/{case_id:str}", tags=TAGS, dependencies=_readers)
async def get_case(case_id: FromPath[str], db_session: DbSession, staff: Staff) -> CaseRead:
    case = await cases.get_case(db_session, case_id)
    [read] = await views.cases_read(db_session, [case], detail=True)
    return read


@post(
    "/admin/v1/risk/cases/next",
    tags=TAGS,
    dependencies=_workers,
    status_code=200,
    summary="Take the next case (locked to the caller); 204 when the queue is empty",
    responses={204: ResponseSpec(None, description="The queue is empty")},
)
async def take_next(db_session: DbSession, staff: Staff) -> Response[CaseRead | None]:
    case = await cases.take_next(db_session, staff)
    if case is None:
        return Response(None, status_code=204)
    [read] = await views.cases_read(db_session, [case], detail=True)
    return Response(read)


@post(
    "/admin/v1/risk/cases/{case_id:str}/assign",
    tags=TAGS,
    dependencies=_workers,
    status_code=200,
    summary="Assign a case ({} assigns the caller)",
)
async def assign_case(
    case_id: FromPath[str], data: JSONBody[AssignCreate], db_session: DbSession, staff: Staff
) -> CaseRead:
    case = await cases.assign(db_session, staff, case_id, data.assignee)
    [read] = await views.cases_read(db_session, [case], detail=True)
    return read


@post(
    "/admin/v1/risk/cases/{case_id:str}/decide",
    tags=TAGS,
    dependencies=_workers,
    status_code=200,
    summary="Close a case with an outcome and actions",
)
async def decide_case(
    case_id: FromPath[str], data: JSONBody[DecideCreate], db_session: DbSession, staff: Staff
) -> CaseRead:
    case = await cases.decide(
        db_session, staff, case_id, outcome=data.outcome, note=data.note, actions=data.actions
    )
    [read] = await views.cases_read(db_session, [case], detail=True)
    return read


ADMIN_ROUTES = [
    list_rules,
    get_rule,
    create_rule,
    update_rule,
    shadow_rule,
    backtest_rule,
    publish_rule,
    create_snooze,
    list_cases,
    take_next,
    get_case,
    assign_case,
    decide_case,
]
