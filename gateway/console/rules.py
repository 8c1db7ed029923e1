"""Working the risk rules in the console: versions with their figures, new rules and new draft
versions (CEL validated by the same service as the admin API), shadow, backtests with their
hits, and publishing under four eyes (a risk lead who is not the version's author).

Every action calls :mod:`gateway.risk.ruleset` and :mod:`gateway.risk.backtest` exactly as
``gateway/risk/routes.py`` does, so validation, the four-eyes check and the audit rows are the
API's own. A refused draft or publish shows the rule again with the reason, keeping what was
typed, instead of an error page.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from litestar import Request, get, post
from litestar.params import FromPath
from litestar.response import Redirect, Template
from msgspec import UNSET

from gateway import clock
from gateway.clock import SHANGHAI, business_date_of
from gateway.console.forms import CSRF_FIELD, form_as, form_field
from gateway.console.pages import RISK_RULES, guard, page
from gateway.deps import DbSession, Staff
from gateway.errors import (
    BusinessRuleViolation,
    Conflict,
    FieldError,
    GatewayError,
    ValidationFailed,
)
from gateway.risk import backtest, ruleset, views
from gateway.risk.backtest import BacktestResult
from gateway.risk.models import EventType, RiskRule, RuleStatus, Severity, SubjectType
from gateway.risk.rules import RuleInvalid
from gateway.risk.ruleset import FourEyesViolation
from gateway.risk.schemas import RuleCreate, RuleUpdate
from gateway.staff.models import Role
from gateway.staff.service import StaffIdentity

WORKERS = (Role.RISK_ANALYST, Role.RISK_LEAD)
PENDING = (RuleStatus.DRAFT, RuleStatus.SHADOW)
# A refused draft is shown again with its reason; anything else is the console's error page.
DRAFT_REFUSALS = (RuleInvalid, ValidationFailed, Conflict)
RULE_FOUR_EYES = "rule_four_eyes"  # the console's message for a publish by the version's author
CHOICES: dict[str, Any] = {
    "event_types": [e.value for e in EventType],
    "severities": [s.value for s in Severity],
    "subjects": [s.value for s in SubjectType],
}


@dataclass(frozen=True, slots=True)
class Backtested:
    """A backtest's figures for the page: the version replayed, and the version in force's hits
    over the same window for comparison (none when the replayed version is the one in force)."""

    version: int
    result: BacktestResult
    published_hits: int | None


@get("/risk/rules", dependencies=RISK_RULES.guard())
async def rule_list(db_session: DbSession, staff: Staff) -> Template:
    await ruleset.ensure_defaults(db_session)
    return await _list_page(db_session, staff)


async def _list_page(
    db_session: DbSession,
    staff: StaffIdentity,
    *,
    status_code: int = 200,
    error: GatewayError | None = None,
    typed: dict[str, Any] | None = None,
) -> Template:
    return page(
        "risk/rules.html",
        staff,
        status_code=status_code,
        rules=await views.rules_read(db_session),
        can_edit=staff.has(*WORKERS),
        error=_refusal(error),
        typed=typed or {"severity": Severity.REVIEW.value, "weight": ruleset.DEFAULT_WEIGHT},
        **CHOICES,
    )


def _refusal(error: GatewayError | None) -> dict[str, Any] | None:
    """A refusal to show on the rule's own page; the four-eyes one in the words of rules."""
    if error is None:
        return None
    fields = getattr(error, "errors", None) or []
    code = error.code
    return {
        "code": code,
        "message": RULE_FOUR_EYES if isinstance(error, FourEyesViolation) else code,
        "detail": str(error.detail),
        "fields": [(f.field, f.message) for f in fields],
    }


async def _typed(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """What the person typed, to show again when the draft is refused."""
    form = await request.form()
    return {k: v for k, v in form.items() if k != CSRF_FIELD}


@post("/risk/rules", dependencies=guard(*WORKERS))
async def create_rule(
    request: Request[Any, Any, Any], db_session: DbSession, staff: Staff
) -> Template | Redirect:
    try:
        data = await form_as(request, RuleCreate, numbers=("weight",))
        rule = await ruleset.create_draft(db_session, staff, data.draft_values(), new=True)
    except DRAFT_REFUSALS as e:
        typed = await _typed(request)
        return await _list_page(db_session, staff, status_code=e.status, error=e, typed=typed)
    return Redirect(f"{RISK_RULES.path}/{rule.id}", status_code=303)


@get("/risk/rules/{rule_id:str}", dependencies=RISK_RULES.guard())
async def rule_detail(rule_id: FromPath[str], db_session: DbSession, staff: Staff) -> Template:
    return await _detail_page(db_session, staff, rule_id)


async def _detail_page(
    db_session: DbSession,
    staff: StaffIdentity,
    rule_id: str,
    *,
    status_code: int = 200,
    error: GatewayError | None = None,
    typed: dict[str, Any] | None = None,
    backtested: Backtested | None = None,
    window: tuple[str, str] | None = None,
) -> Template:
    versions = await ruleset.versions(db_session, rule_id)
    [read] = await views.rules_read(db_session, rule_id)
    latest = versions[-1]
    pending = latest.status in PENDING
    today = business_date_of(clock.now())
    return page(
        "risk/rule.html",
        staff,
        status_code=status_code,
        rule=read,
        versions=list(reversed(versions)),
        pending=pending,
        can_edit=staff.has(*WORKERS),
        can_shadow=staff.has(*WORKERS) and latest.status == RuleStatus.DRAFT,
        can_publish=staff.has(Role.RISK_LEAD) and pending,
        own_version=pending and latest.author == staff.actor,
        error=_refusal(error),
        typed=typed or _current(latest),
        backtested=backtested,
        window=window or ((today - timedelta(days=30)).isoformat(), today.isoformat()),
        **CHOICES,
    )


def _current(rule: RiskRule) -> dict[str, Any]:
    return {
        "expression": rule.expression,
        "description": rule.description,
        "severity": rule.severity,
        "weight": rule.weight,
        "subject": rule.subject,
    }


@post("/risk/rules/{rule_id:str}/draft", dependencies=guard(*WORKERS))
async def draft_rule(
    request: Request[Any, Any, Any], rule_id: FromPath[str], db_session: DbSession, staff: Staff
) -> Template | Redirect:
    current = await ruleset.latest(db_session, rule_id)
    try:
        data = await form_as(request, RuleUpdate, numbers=("weight",))
        values = {
            "id": rule_id,
            "event_type": current.event_type,
            **_current(current),
            **_sent(data),
        }
        await ruleset.create_draft(db_session, staff, values, new=False)
    except DRAFT_REFUSALS as e:
        typed = await _typed(request)
        return await _detail_page(
            db_session, staff, rule_id, status_code=e.status, error=e, typed=typed
        )
    return Redirect(f"{RISK_RULES.path}/{rule_id}", status_code=303)


def _sent(data: RuleUpdate) -> dict[str, Any]:
    """The fields the form sent; one left out keeps the latest version's value, as in the API."""
    names = ("expression", "description", "severity", "weight", "subject")
    return {n: v for n in names if (v := getattr(data, n)) is not UNSET}


@post("/risk/rules/{rule_id:str}/shadow", dependencies=guard(*WORKERS))
async def shadow_rule(rule_id: FromPath[str], db_session: DbSession, staff: Staff) -> Redirect:
    await ruleset.shadow(db_session, staff, rule_id)
    return Redirect(f"{RISK_RULES.path}/{rule_id}", status_code=303)


def _day(field: str, value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as e:
        raise ValidationFailed(errors=[FieldError(field, "invalid", "not a date")]) from e


@post("/risk/rules/{rule_id:str}/backtest", dependencies=guard(*WORKERS), status_code=200)
async def backtest_rule(
    request: Request[Any, Any, Any], rule_id: FromPath[str], db_session: DbSession, staff: Staff
) -> Template:
    """Replay the latest version over the recorded events of whole China-time days."""
    first = _day("from", await form_field(request, "from"))
    last = _day("to", await form_field(request, "to"))
    if last < first:
        raise BusinessRuleViolation("'to' must not be before 'from'.", code="window_invalid")
    since = datetime.combine(first, time(), SHANGHAI)
    until = datetime.combine(last + timedelta(days=1), time(), SHANGHAI)
    versions = await ruleset.versions(db_session, rule_id)
    candidate = versions[-1]
    result = await backtest.run(db_session, candidate, since, until)
    published = next((r for r in versions if r.status == RuleStatus.PUBLISHED), None)
    in_force = None
    if published is not None and published is not candidate:
        in_force = (await backtest.run(db_session, published, since, until)).hits
    return await _detail_page(
        db_session,
        staff,
        rule_id,
        backtested=Backtested(candidate.version, result, in_force),
        window=(first.isoformat(), last.isoformat()),
    )


@post("/risk/rules/{rule_id:str}/publish", dependencies=guard(Role.RISK_LEAD))
async def publish_rule(
    rule_id: FromPath[str], db_session: DbSession, staff: Staff
) -> Template | Redirect:
    try:
        await ruleset.publish(db_session, staff, rule_id)
    except FourEyesViolation as e:
        return await _detail_page(db_session, staff, rule_id, status_code=e.status, error=e)
    return Redirect(f"{RISK_RULES.path}/{rule_id}", status_code=303)


ROUTES = [rule_list, create_rule, rule_detail, draft_rule, shadow_rule, backtest_rule, publish_rule]
