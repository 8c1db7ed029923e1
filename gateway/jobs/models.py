from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from gateway.db import UTCDateTime, utcnow


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    DEAD = "dead"


class Job(SQLModel, table=True):
    __tablename__ = "jobs"
    __table_args__ = (sa.Index("ix_jobs_due", "status", "run_at"),)

    id: str = Field(primary_key=True, max_length=40)
    kind: str = Field(max_length=80)
    payload: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON)
    status: str = Field(default=JobStatus.QUEUED, max_length=16)
    dedupe_key: str | None = Field(default=None, max_length=200, unique=True)
    attempts: int = 0
    max_attempts: int = 8
    run_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    lease_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    locked_by: str | None = Field(default=None, max_length=80)
    last_error: str | None = Field(default=None, max_length=2000)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
