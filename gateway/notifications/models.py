from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from gateway.db import UTCDateTime, utcnow


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    DEAD = "dead"


class Event(SQLModel, table=True):
    """``{id, type, created_at, data}`` as the partner receives it; partners de-duplicate by id."""

    __tablename__ = "events"

    id: str = Field(primary_key=True, max_length=40)
    partner_id: str = Field(max_length=40, index=True)
    type: str = Field(max_length=80)
    data: dict[str, Any] = Field(sa_type=sa.JSON)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class WebhookDelivery(SQLModel, table=True):
    """The delivery of one event to the partner's webhook URL, with its attempts so far."""

    __tablename__ = "webhook_deliveries"

    id: str = Field(primary_key=True, max_length=40)
    event_id: str = Field(foreign_key="events.id", max_length=40, index=True)
    partner_id: str = Field(max_length=40, index=True)
    status: str = Field(default=DeliveryStatus.PENDING, max_length=16)
    attempts: int = 0
    next_attempt_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_status_code: int | None = None
    last_error: str | None = Field(default=None, max_length=500)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    delivered_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
