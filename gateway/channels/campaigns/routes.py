"""Campaign routes for channel managers (DESIGN §7): thin handlers over the service."""

from __future__ import annotations

from litestar import get, patch, post
from litestar.di import Provide
from litestar.params import FromPath, FromQuery, JSONBody
from sqlmodel import col

from gateway.channels.campaigns import service
from gateway.channels.campaigns.models import Campaign, CampaignStatus, ProductType
from gateway.channels.campaigns.schemas import (
    CampaignCreate,
    CampaignRead,
    CampaignUpdate,
    EffectiveRule,
)
from gateway.deps import DbSession, Staff
from gateway.pagination import DEFAULT_LIMIT, Page, paginate
from gateway.staff.guards import require_role
from gateway.staff.models import Role

# Finance reconciles subsidy_budget ledger accounts against campaigns; auditors read everything.
_readers = {"staff": Provide(require_role(Role.CHANNEL_MANAGER, Role.FINANCE, Role.AUDITOR))}
_managers = {"staff": Provide(require_role(Role.CHANNEL_MANAGER))}


def campaign_read(campaign: Campaign) -> CampaignRead:
    return CampaignRead(
        id=campaign.id,
        name=campaign.name,
        scenario=campaign.scenario,
        partner_id=campaign.partner_id,
        product_type=campaign.product_type,
        status=campaign.status,
        budget=campaign.budget,
        spent=campaign.spent,
        remaining=campaign.budget - campaign.spent,
        subsidy=service.subsidy_rule(campaign),
        effective_rule=EffectiveRule(
            activation_days=campaign.activation_days, min_amount=campaign.effective_min_amount
        ),
        starts_at=campaign.starts_at,
        ends_at=campaign.ends_at,
        created_by=campaign.created_by,
        created_at=campaign.created_at,
        updated_at=campaign.updated_at,
    )


@post(
    "/admin/v1/campaigns",
    tags=["campaigns"],
    dependencies=_managers,
    summary="Create a campaign: a budget, an optional payment subsidy and what counts",
)
async def create_campaign(
    data: JSONBody[CampaignCreate], db_session: DbSession, staff: Staff
) -> CampaignRead:
    return campaign_read(await service.create_campaign(db_session, data, staff))


@get("/admin/v1/campaigns", tags=["campaigns"], dependencies=_readers, summary="List campaigns")
async def list_campaigns(
    db_session: DbSession,
    staff: Staff,
    scenario: FromQuery[str | None] = None,
    partner_id: FromQuery[str | None] = None,
    product_type: FromQuery[ProductType | None] = None,
    status: FromQuery[CampaignStatus | None] = None,
    limit: FromQuery[int] = DEFAULT_LIMIT,
    cursor: FromQuery[str | None] = None,
) -> Page[CampaignRead]:
    stmt = service.campaigns_query(
        scenario=scenario, partner_id=partner_id, product_type=product_type, status=status
    )
    rows, next_cursor = await paginate(
        db_session, stmt, col(Campaign.id), limit=limit, cursor=cursor
    )
    return Page(data=[campaign_read(c) for c in rows], next_cursor=next_cursor)


@get("/admin/v1/campaigns/{campaign_id:str}", tags=["campaigns"], dependencies=_readers)
async def get_campaign(
    campaign_id: FromPath[str], db_session: DbSession, staff: Staff
) -> CampaignRead:
    return campaign_read(await service.get_campaign(db_session, campaign_id))


@patch(
    "/admin/v1/campaigns/{campaign_id:str}",
    tags=["campaigns"],
    dependencies=_managers,
    summary="Pause or resume, set the budget (never below what is spent), move the end",
)
async def update_campaign(
    campaign_id: FromPath[str], data: JSONBody[CampaignUpdate], db_session: DbSession, staff: Staff
) -> CampaignRead:
    return campaign_read(await service.update_campaign(db_session, campaign_id, data, staff))


ADMIN_ROUTES = [create_campaign, list_campaigns, get_campaign, update_campaign]
