from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from gateway.db import UTCDateTime, utcnow


class ApplicationStatus(StrEnum):
    SUBMITTED = "submitted"
    REVIEWED = "reviewed"
    APPROVED = "approved"
    REJECTED = "rejected"


class PartnerStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    TERMINATED = "terminated"


class KeyStatus(StrEnum):
    ACTIVE = "active"
    RETIRING = "retiring"  # still accepted until the new key is used once or retire_after passes
    RETIRED = "retired"


class PartnerApplication(SQLModel, table=True):
    """What an applicant submitted. Personal data lives encrypted in ``pii``."""

    __tablename__ = "partner_applications"

    id: str = Field(primary_key=True, max_length=40)
    status: str = Field(default=ApplicationStatus.SUBMITTED, max_length=16, index=True)
    legal_name: str = Field(max_length=200)
    uscc: str = Field(max_length=18, index=True)
    scenarios: list[str] = Field(sa_type=sa.JSON)
    cooperation_mode: str = Field(max_length=40)
    settlement_account_name: str = Field(max_length=200)
    webhook_url: str | None = Field(default=None, max_length=2048)
    jwks: dict[str, Any] = Field(sa_type=sa.JSON)
    scenario_profile: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON)
    pii: str = Field(
        sa_type=sa.Text, description="encrypted JSON: representative, contact, account number"
    )
    review_recommendation: str | None = Field(default=None, max_length=16)
    review_note: str | None = Field(default=None, max_length=2000)
    reviewed_by: str | None = Field(default=None, max_length=40)
    reviewed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    decision_note: str | None = Field(default=None, max_length=2000)
    decided_by: str | None = Field(default=None, max_length=40)
    decided_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    partner_id: str | None = Field(default=None, max_length=40)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Partner(SQLModel, table=True):
    __tablename__ = "partners"

    id: str = Field(primary_key=True, max_length=40)
    application_id: str = Field(foreign_key="partner_applications.id", unique=True, max_length=40)
    legal_name: str = Field(max_length=200)
    uscc: str = Field(max_length=18)
    status: str = Field(default=PartnerStatus.ACTIVE, max_length=16)
    status_reason: str | None = Field(default=None, max_length=2000)
    scenarios: list[str] = Field(sa_type=sa.JSON)
    cooperation_mode: str = Field(max_length=40)
    webhook_url: str | None = Field(default=None, max_length=2048)
    scenario_profile: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON)
    settlement_account_name: str = Field(max_length=200)
    pii: str = Field(sa_type=sa.Text)
    client_id: str = Field(max_length=64, unique=True)
    client_secret_hash: str = Field(max_length=255)
    rate_limit_per_second: float = 50.0
    rate_limit_burst: int = 200
    webhook_retry_seconds: list[int] | None = Field(default=None, sa_type=sa.JSON)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class PartnerKey(SQLModel, table=True):
    """A partner's registered public key (JWK), used for signatures and client assertions."""

    __tablename__ = "partner_keys"
    __table_args__ = (sa.UniqueConstraint("partner_id", "kid"),)

    id: str = Field(primary_key=True, max_length=40)
    partner_id: str = Field(foreign_key="partners.id", max_length=40, index=True)
    kid: str = Field(max_length=200)
    jwk: dict[str, Any] = Field(sa_type=sa.JSON)
    status: str = Field(default=KeyStatus.ACTIVE, max_length=16)
    retire_after: datetime | None = Field(default=None, sa_type=UTCDateTime)
    first_used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
