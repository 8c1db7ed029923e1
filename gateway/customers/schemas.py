from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import msgspec
from msgspec import Meta

from gateway.schemas import Strict

Short = Annotated[str, Meta(max_length=128)]


class ApplicantIn(Strict):
    name: Annotated[str, Meta(max_length=64)]
    id_number: Annotated[str, Meta(max_length=32)]
    phone: Annotated[str, Meta(max_length=32)]
    external_ref: Short | None = None
    referral_code: Annotated[str, Meta(max_length=40)] | None = None
    attributes: dict[str, Any] = msgspec.field(default_factory=dict)
    context: dict[str, str] | None = None


class CustomerCreate(ApplicantIn):
    """One opening; ``scenario`` is required (a default keeps the inherited fields first)."""

    scenario: Annotated[str, Meta(max_length=40)] = ""
    sub_channel: Annotated[str, Meta(max_length=80)] | None = None
    campaign: Annotated[str, Meta(max_length=80)] | None = None


class BatchCreate(Strict):
    scenario: Annotated[str, Meta(max_length=40)]
    items: list[ApplicantIn]
    sub_channel: Annotated[str, Meta(max_length=80)] | None = None
    campaign: Annotated[str, Meta(max_length=80)] | None = None


class OpeningRead(msgspec.Struct):
    id: str
    status: str
    account_no: str


class CustomerRead(msgspec.Struct):
    id: str
    name: str
    id_number: str
    phone: str
    account_no: str
    external_ref: str | None
    minor: bool
    created_at: datetime


class BatchAccepted(msgspec.Struct):
    id: str
    status: str
    total: int


class BatchRead(msgspec.Struct):
    id: str
    status: str
    scenario: str
    sub_channel: str | None
    campaign: str | None
    total: int
    processed: int
    opened: int
    existing: int
    rejected: int
    created_at: datetime
    completed_at: datetime | None


class RowErrorRead(msgspec.Struct):
    code: str
    message: str


class BatchItemRead(msgspec.Struct):
    row: int
    external_ref: str | None
    status: str
    customer_id: str | None
    account_no: str | None
    error: RowErrorRead | None
