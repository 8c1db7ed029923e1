"""Partner routes of the channels context: lifecycle events in, referral codes out."""

from __future__ import annotations

from litestar import get, post
from litestar.params import FromPath, JSONBody

from gateway.channels.events import service
from gateway.channels.events.schemas import EventCreate, EventRead, ReferralCodeRead
from gateway.channels.lifecycle.models import ChannelEvent, ChannelMilestone
from gateway.customers.service import customer_for_partner
from gateway.deps import CurrentPartner, DbSession
from gateway.errors import NotFound


def event_read(event: ChannelEvent) -> EventRead:
    return EventRead(
        id=event.id,
        type=event.type,
        customer_id=event.customer_id,
        occurred_at=event.occurred_at,
        external_ref=event.external_ref,
        created_at=event.created_at,
    )


@post(
    "/events",
    tags=["channels"],
    opt={"scope": "accounts:write"},
    status_code=201,
    summary="Report a lifecycle signal the gateway cannot see (e.g. app_login); feeds retention",
)
async def create_event(
    data: JSONBody[EventCreate], partner: CurrentPartner, db_session: DbSession
) -> EventRead:
    event = await service.record_event(
        db_session,
        partner.id,
        type_=data.type,
        customer_id=data.customer_id,
        occurred_at=data.occurred_at,
        external_ref=data.external_ref,
    )
    return event_read(event)


@get(
    "/channels/customers/{customer_id:str}/referral-code",
    tags=["channels"],
    opt={"scope": "accounts:read"},
    summary="The customer's own referral code (每位客户一个邀请码) and how many it referred",
)
async def get_referral_code(
    customer_id: FromPath[str], partner: CurrentPartner, db_session: DbSession
) -> ReferralCodeRead:
    await customer_for_partner(db_session, customer_id, partner.id)
    milestone = await db_session.get(ChannelMilestone, customer_id)
    if milestone is None:
        raise NotFound("This customer has no referral code.")
    return ReferralCodeRead(
        customer_id=customer_id, referral_code=milestone.referral_code, referred=milestone.referred
    )


PARTNER_ROUTES = [create_event, get_referral_code]
