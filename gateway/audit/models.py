from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from gateway.db import UTCDateTime, utcnow


class AuditRecord(SQLModel, table=True):
    """One audited action. Application code only ever inserts these (see service.py)."""

    __tablename__ = "audit_log"

    id: str = Field(primary_key=True, max_length=40)
    occurred_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    actor: str = Field(max_length=120, index=True)
    action: str = Field(max_length=80, index=True)
    subject_type: str = Field(max_length=40)
    subject_id: str = Field(max_length=60, index=True)
    before: dict[str, Any] | None = Field(default=None, sa_type=sa.JSON)
    after: dict[str, Any] | None = Field(default=None, sa_type=sa.JSON)
    request_id: str | None = Field(default=None, max_length=64)
