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
from gateway.console.pages import AUDIT, CHINA_TIME, list_page
from gateway.deps import DbSession, Staff
from gateway.errors import FieldError, ValidationFailed


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
    filters = {
        "actor": actor or "",
        "action": action or "",
        "subject_id": subject_id or "",
        "from": since or "",
        "to": until or "",
    }
    return await list_page(
        request,
        db_session,
        staff,
        stmt,
        col(AuditRecord.id),
        cursor,
        template="audit/list.html",
        rows_template="audit/_rows.html",
        filters=filters,
    )


ROUTES = [audit_log]
