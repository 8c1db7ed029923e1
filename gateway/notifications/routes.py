from __future__ import annotations

from datetime import datetime
from typing import Literal

import msgspec
from litestar import get as get_route
from litestar import post
from litestar.params import FromPath, FromQuery
from sqlmodel import col, select

from gateway.deps import CurrentPartner, DbSession
from gateway.notifications.models import Event, WebhookDelivery
from gateway.notifications.service import redeliver
from gateway.pagination import DEFAULT_LIMIT, Page, paginate


class DeliveryRead(msgspec.Struct):
    id: str
    event_id: str
    event_type: str
    status: str
    attempts: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None


def _read(delivery: WebhookDelivery, event_type: str) -> DeliveryRead:
    return DeliveryRead(
        id=delivery.id,
        event_id=delivery.event_id,
        event_type=event_type,
        status=delivery.status,
        attempts=delivery.attempts,
        next_attempt_at=delivery.next_attempt_at,
        last_status_code=delivery.last_status_code,
        last_error=delivery.last_error,
        created_at=delivery.created_at,
        delivered_at=delivery.delivered_at,
    )


@get_route("/webhook-deliveries", tags=["webhooks"], opt={"scope": "webhooks:manage"})
async def list_deliveries(
    partner: CurrentPartner,
    db_session: DbSession,
    status: FromQuery[Literal["pending", "succeeded", "dead"] | None] = None,
    limit: FromQuery[int] = DEFAULT_LIMIT,
    cursor: FromQuery[str | None] = None,
) -> Page[DeliveryRead]:
    stmt = select(WebhookDelivery).where(col(WebhookDelivery.partner_id) == partner.id)
    if status:
        stmt = stmt.where(col(WebhookDelivery.status) == status)
    rows, next_cursor = await paginate(
        db_session, stmt, col(WebhookDelivery.id), limit=limit, cursor=cursor
    )
    event_ids = {r.event_id for r in rows}
    found = await db_session.execute(
        select(Event.id, Event.type).where(col(Event.id).in_(event_ids))
    )
    types: dict[str, str] = dict(found.all())
    return Page(data=[_read(r, types[r.event_id]) for r in rows], next_cursor=next_cursor)


@post(
    "/webhook-deliveries/{delivery_id:str}/redeliver",
    tags=["webhooks"],
    opt={"scope": "webhooks:manage"},
    status_code=202,
)
async def redeliver_delivery(
    delivery_id: FromPath[str], partner: CurrentPartner, db_session: DbSession
) -> DeliveryRead:
    delivery = await redeliver(db_session, partner.id, delivery_id)
    event = await db_session.get(Event, delivery.event_id)
    return _read(delivery, event.type if event else "")


PARTNER_ROUTES = [list_deliveries, redeliver_delivery]
