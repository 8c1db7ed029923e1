"""The audit log page: the same query and filters as ``GET /admin/v1/audit``, as a table."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Annotated, Any

from litestar import Request, get
from litestar.params import FromQuery, QueryParameter
from litestar.response import Template
from sqlmodel import col

from gateway.audit.models import AuditRecord
from gateway.audit.service import query
from gateway.console.pages import AUDIT, CHINA_TIME, PAGE_SIZE, is_htmx, page
from gateway.deps import DbSession, Staff
from gateway.errors import FieldError, ValidationFailed
from gateway.pagination import paginate


def _day_start(field: str, value: str | None, *, days: int = 0) -> datetime | None:
    """The start of a calendar day in China time (what a date input means to the bank's staff)."""
    if not value:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError as e:
        raise ValidationFailed(errors=[FieldError(field, "invalid", "use YYYY-MM-DD")]) from e
    return datetime.combine(day + timedelta(days=days), time(), CHINA_TIME)


@get("/audit", dependencies=AUDIT.guard())
async def audit_log(
    request: Request[Any, Any, Any],
    db_session: DbSession,
    staff: Staff,
    actor: FromQuery[str | None] = None,
    action: FromQuery[str | None] = None,
    subject_id: FromQuery[str | None] = None,
    since: Annotated[str | None, QueryParameter(name="from")] = None,
    until: Annotated[str | None, QueryParameter(name="to")] = None,
    cursor: FromQuery[str | None] = None,
) -> Template:
    stmt = query(
        actor=actor or None,
        action=action or None,
        subject_id=subject_id or None,
        since=_day_start("from", since),
        until=_day_start("to", until, days=1),  # "to" names the last day included
    )
    rows, next_cursor = await paginate(
        db_session, stmt, col(AuditRecord.id), limit=PAGE_SIZE, cursor=cursor
    )
    filters = {
        "actor": actor or "",
        "action": action or "",
        "subject_id": subject_id or "",
        "from": since or "",
        "to": until or "",
    }
    template = "audit/_rows.html" if is_htmx(request) else "audit/list.html"
    return page(template, staff, rows=rows, next_cursor=next_cursor, filters=filters)


ROUTES = [audit_log]
