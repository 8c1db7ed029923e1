from __future__ import annotations

from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session
from sqlmodel import col, select
from sqlmodel.sql.expression import SelectOfScalar

from gateway.audit.models import AuditRecord
from gateway.ids import new_id


class AuditImmutableError(RuntimeError):
    """Raised when code tries to change or delete an audit record."""


@event.listens_for(Session, "before_flush")
def _forbid_audit_changes(session: Session, _ctx: Any, _instances: Any) -> None:
    for obj in (*session.dirty, *session.deleted):
        if isinstance(obj, AuditRecord):
            raise AuditImmutableError("audit records are append-only")


def record(
    session: AsyncSession,
    *,
    actor: str,
    action: str,
    subject_type: str,
    subject_id: str,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> AuditRecord:
    """Add an audit record to the caller's transaction (it commits with the change it explains)."""
    request_id = structlog.contextvars.get_contextvars().get("request_id")
    entry = AuditRecord(
        id=new_id("aud"),
        actor=actor,
        action=action,
        subject_type=subject_type,
        subject_id=subject_id,
        before=before,
        after=after,
        request_id=request_id,
    )
    session.add(entry)
    return entry


def query(
    *,
    actor: str | None,
    action: str | None,
    subject_id: str | None,
    since: datetime | None,
    until: datetime | None,
) -> SelectOfScalar[AuditRecord]:
    stmt = select(AuditRecord)
    if actor:
        stmt = stmt.where(col(AuditRecord.actor) == actor)
    if action:
        stmt = stmt.where(col(AuditRecord.action) == action)
    if subject_id:
        stmt = stmt.where(col(AuditRecord.subject_id) == subject_id)
    if since:
        stmt = stmt.where(col(AuditRecord.occurred_at) >= since)
    if until:
        stmt = stmt.where(col(AuditRecord.occurred_at) < until)
    return stmt
