from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import msgspec
from litestar import get
from litestar.di import Provide
from litestar.params import FromQuery, QueryParameter
from sqlmodel import col

from gateway.audit.models import AuditRecord
from gateway.audit.service import query
from gateway.deps import DbSession, Staff
from gateway.pagination import DEFAULT_LIMIT, Page, paginate
from gateway.staff.guards import require_role
from gateway.staff.models import Role


class AuditRead(msgspec.Struct):
    id: str
    occurred_at: datetime
    actor: str
    action: str
    subject: dict[str, str]
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    request_id: str | None

    @classmethod
    def of(cls, rec: AuditRecord) -> AuditRead:
        return cls(
            id=rec.id,
            occurred_at=rec.occurred_at,
            actor=rec.actor,
            action=rec.action,
            subject={"type": rec.subject_type, "id": rec.subject_id},
            before=rec.before,
            after=rec.after,
            request_id=rec.request_id,
        )


@get(
    "/admin/v1/audit",
    tags=["audit"],
    summary="Read the audit log",
    dependencies={"staff": Provide(require_role(Role.AUDITOR))},
)
async def list_audit(
    db_session: DbSession,
    staff: Staff,
    actor: FromQuery[str | None] = None,
    action: FromQuery[str | None] = None,
    subject_id: FromQuery[str | None] = None,
    since: Annotated[datetime | None, QueryParameter(name="from")] = None,
    until: Annotated[datetime | None, QueryParameter(name="to")] = None,
    limit: FromQuery[int] = DEFAULT_LIMIT,
    cursor: FromQuery[str | None] = None,
) -> Page[AuditRead]:
    stmt = query(actor=actor, action=action, subject_id=subject_id, since=since, until=until)
    rows, next_cursor = await paginate(
        db_session, stmt, col(AuditRecord.id), limit=limit, cursor=cursor
    )
    return Page(data=[AuditRead.of(r) for r in rows], next_cursor=next_cursor)
