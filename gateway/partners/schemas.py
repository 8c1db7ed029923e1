"""Request and response shapes of partner onboarding (DESIGN §5)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

from gateway.schemas import Strict

Text200 = Annotated[str, Meta(min_length=1, max_length=200)]
Note = Annotated[str, Meta(max_length=2000)]


class CooperationMode(StrEnum):
    JOINT_OPERATION = "joint_operation"
    CUSTOMER_REFERRAL = "customer_referral"
    RESOURCE_SHARING = "resource_sharing"
    MOST_FAVORED = "most_favored"
    OPEN_AGENCY = "open_agency"


class Contact(Strict):
    name: Text200
    phone: Annotated[str, Meta(max_length=20)]
    email: Annotated[str, Meta(max_length=254)]


class SettlementAccount(Strict):
    account_name: Text200
    account_no: Annotated[str, Meta(min_length=8, max_length=34)]


class Jwks(Strict):
    keys: Annotated[list[dict[str, Any]], Meta(min_length=1, max_length=10)]


class ApplicationCreate(Strict):
    legal_name: Text200
    uscc: Annotated[str, Meta(max_length=18)]
    legal_representative: Text200
    contact: Contact
    scenarios: Annotated[list[str], Meta(min_length=1, max_length=10)]
    cooperation_mode: CooperationMode
    settlement_account: SettlementAccount
    jwks: Jwks
    webhook_url: Annotated[str, Meta(max_length=2048)] | None = None
    scenario_profile: dict[str, dict[str, Any]] = msgspec.field(default_factory=dict)


class ApplicationStatusRead(msgspec.Struct):
    id: str
    status: str


class ReviewCreate(Strict):
    recommendation: Literal["approve", "reject"]
    note: Note = ""


class ApproveCreate(Strict):
    note: Note = ""


class RejectCreate(Strict):
    reason: Annotated[str, Meta(min_length=1, max_length=2000)]


class ReasonBody(Strict):
    reason: Annotated[str, Meta(min_length=1, max_length=2000)]


class Credentials(msgspec.Struct):
    partner_id: str
    client_id: str
    client_secret: str


class ApplicationRead(msgspec.Struct):
    """What reviewers see: personal data masked."""

    id: str
    status: str
    legal_name: str
    uscc: str
    legal_representative: str
    contact: dict[str, str]
    scenarios: list[str]
    cooperation_mode: str
    settlement_account: dict[str, str]
    webhook_url: str | None
    scenario_profile: dict[str, Any]
    jwks_kids: list[str]
    review: dict[str, Any] | None
    decision: dict[str, Any] | None
    partner_id: str | None
    created_at: datetime


class KeyRead(msgspec.Struct):
    kid: str
    status: str
    retire_after: datetime | None


class PartnerRead(msgspec.Struct):
    id: str
    legal_name: str
    uscc: str
    status: str
    scenarios: list[str]
    scopes: list[str]
    cooperation_mode: str
    webhook_url: str | None
    scenario_profile: dict[str, Any]
    settlement_account: dict[str, str]
    client_id: str
    keys: list[KeyRead]
    rate_limit: dict[str, float]
    created_at: datetime


class WebhookUpdate(Strict):
    webhook_url: Annotated[str, Meta(max_length=2048)] | None
