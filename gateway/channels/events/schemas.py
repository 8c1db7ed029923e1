from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec
from msgspec import Meta

from gateway.schemas import Strict

EventType = Annotated[str, Meta(pattern=r"^[a-z][a-z0-9_.]{1,39}$")]


class EventCreate(Strict):
    """A lifecycle signal the gateway cannot see itself, e.g. ``app_login``."""

    type: EventType
    customer_id: Annotated[str, Meta(max_length=40)]
    occurred_at: datetime | None = None
    external_ref: Annotated[str, Meta(min_length=1, max_length=128)] | None = None


class EventRead(msgspec.Struct):
    id: str
    type: str
    customer_id: str
    occurred_at: datetime
    external_ref: str | None
    created_at: datetime


class ReferralCodeRead(msgspec.Struct):
    customer_id: str
    referral_code: str
    referred: int
