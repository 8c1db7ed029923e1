from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from gateway.db import UTCDateTime, utcnow


class Role(StrEnum):
    OPS_MAKER = "ops_maker"
    OPS_CHECKER = "ops_checker"
    RISK_ANALYST = "risk_analyst"
    RISK_LEAD = "risk_lead"
    CHANNEL_MANAGER = "channel_manager"
    FINANCE = "finance"
    AUDITOR = "auditor"
    ADMIN = "admin"


class StaffUser(SQLModel, table=True):
    __tablename__ = "staff_users"

    id: str = Field(primary_key=True, max_length=40)
    username: str = Field(max_length=80, unique=True)
    password_hash: str | None = Field(default=None, max_length=255)
    oidc_subject: str | None = Field(default=None, max_length=255, unique=True)
    roles: list[str] = Field(default_factory=list, sa_type=sa.JSON)
    active: bool = True
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
