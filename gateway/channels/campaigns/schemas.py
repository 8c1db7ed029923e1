"""Request and response shapes of campaigns (DESIGN §7)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec
from msgspec import UNSET, Meta, UnsetType

from gateway.channels.campaigns.models import CampaignStatus, ProductType, SubsidyType
from gateway.money import CURRENCY
from gateway.schemas import Strict

Fen = Annotated[int, Meta(ge=1, description="integer fen")]
Moment = Annotated[datetime, Meta(tz=True, description="RFC 3339 with an offset")]


class SubsidyRule(Strict):
    """``value`` is a percent of the payment (10 = 10%), fen per litre, or fixed fen by ``type``."""

    type: SubsidyType
    value: Annotated[int, Meta(ge=1)]
    cap_per_txn: Fen
    cap_per_customer_month: Fen


class EffectiveRule(Strict):
    """What counts as an effective customer for this campaign."""

    activation_days: Annotated[int, Meta(ge=1, le=366)]
    min_amount: Annotated[int, Meta(ge=0, description="integer fen")]


class CampaignCreate(Strict):
    name: Annotated[str, Meta(min_length=1, max_length=200)]
    scenario: Annotated[str, Meta(min_length=1, max_length=40)]
    product_type: ProductType
    budget: Fen
    starts_at: Moment
    ends_at: Moment
    partner_id: Annotated[str, Meta(max_length=40)] | None = None
    subsidy: SubsidyRule | None = None
    effective_rule: EffectiveRule | None = None


class CampaignUpdate(Strict):
    """Pause or resume, set the budget (a top-up; never below what is spent), move the end."""

    status: CampaignStatus | UnsetType = UNSET
    budget: Fen | UnsetType = UNSET
    ends_at: Moment | UnsetType = UNSET


class CampaignRead(msgspec.Struct):
    id: str
    name: str
    scenario: str
    partner_id: str | None
    product_type: str
    status: str
    budget: int
    spent: int
    remaining: int
    subsidy: SubsidyRule | None
    effective_rule: EffectiveRule
    starts_at: datetime
    ends_at: datetime
    created_by: str
    created_at: datetime
    updated_at: datetime
    currency: str = CURRENCY
