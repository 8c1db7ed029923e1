from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from gateway.db import UTCDateTime, utcnow


class IdempotencyRecord(SQLModel, table=True):
    __tablename__ = "idempotency_keys"
    __table_args__ = (sa.UniqueConstraint("partner_id", "key"),)

    id: str = Field(primary_key=True, max_length=40)
    partner_id: str = Field(max_length=40)
    key: str = Field(max_length=255)
    fingerprint: str = Field(max_length=64)
    status: str = Field(max_length=16)  # in_flight | completed
    locked_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    response_status: int | None = None
    response_headers: dict[str, Any] | None = Field(default=None, sa_type=sa.JSON)
    response_body: bytes | None = Field(default=None, sa_type=sa.LargeBinary)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime, index=True)
