"""Emitting events and delivering them.

``emit`` writes the event, its delivery and the delivery job in the caller's transaction (the
outbox), so a partner is told exactly about changes that committed. Each attempt is one job run:
a 2xx within 10 s ends it; anything else schedules the next attempt on the retry schedule
(default about 4m, 10m, 10m, 1h, 2h, 6h, 15h; a partner may have its own), then dead-letters the
delivery, which the partner or ops can redeliver. The request is signed with the gateway's key
(RFC 9421) and the URL passes the SSRF guard again at delivery time, because DNS can change.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import httpx
import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.auth.keys import KeyRing
from gateway.auth.signatures import sign_request
from gateway.db import insert_rows, table_of, utcnow
from gateway.errors import Conflict, ValidationFailed
from gateway.ids import new_id
from gateway.jobs import JobContext, enqueue, job_handler
from gateway.jobs.queue import JOBS, job_row
from gateway.net import check_outbound_url
from gateway.notifications.models import DeliveryStatus, Event, WebhookDelivery
from gateway.partners.models import Partner
from gateway.partners.ownership import owned

DEFAULT_SCHEDULE = (240, 600, 600, 3600, 7200, 21600, 54000)
DELIVERY_TIMEOUT = httpx.Timeout(10.0)
DELIVER_JOB = "webhook.deliver"
log = structlog.get_logger(__name__)
_EVENTS = table_of(Event)
_DELIVERIES = table_of(WebhookDelivery)


def schedule_for(partner: Partner) -> tuple[int, ...]:
    return tuple(partner.webhook_retry_seconds or DEFAULT_SCHEDULE)


async def emit(session: AsyncSession, partner_id: str, type_: str, data: dict[str, Any]) -> str:
    """Record an event for ``partner_id`` and queue its delivery (same transaction as the cause);
    the event's id."""
    event_id = new_id("evt")
    delivery_id = new_id("whd")
    # Core inserts of plain rows, one round trip on PostgreSQL: emit runs inside every payment,
    # and the ORM's unit of work costs several times the round trip (docs/performance.md). The
    # job's dedupe key names a new delivery, so it cannot meet an earlier one.
    event = {
        "id": event_id,
        "partner_id": partner_id,
        "type": type_,
        "data": data,
        "created_at": utcnow(),
    }
    delivery = {"id": delivery_id, "event_id": event_id, "partner_id": partner_id}
    job = job_row(DELIVER_JOB, {"delivery_id": delivery_id}, dedupe_key=f"{delivery_id}:0")
    await insert_rows(session, [(_EVENTS, event), (_DELIVERIES, delivery), (JOBS, job)])
    return event_id


def event_body(event: Event) -> bytes:
    return json.dumps(
        {
            "id": event.id,
            "type": event.type,
            "created_at": event.created_at.isoformat(),
            "data": event.data,
        },
        ensure_ascii=False,
        separators=(",", ":"),
    ).encode()


async def _attempt(
    ctx: JobContext, partner: Partner, event: Event
) -> tuple[bool, int | None, str | None]:
    """One POST to the partner's webhook; returns (delivered, status code, error)."""
    if not partner.webhook_url:
        return False, None, "no webhook_url configured"
    try:
        await check_outbound_url(partner.webhook_url, ctx.settings, field="webhook_url")
    except ValidationFailed as e:
        return False, None, e.detail
    ring: KeyRing = ctx.services["key_ring"]
    body = event_body(event)
    headers = {"content-type": "application/json", "webhook-id": event.id}
    headers |= sign_request(
        method="POST",
        target_uri=partner.webhook_url,
        headers=headers,
        body=body,
        private_jwk=ring.private_jwk(),
        key_id=ring.kid,
    )
    client: httpx.AsyncClient = ctx.services["http"]
    try:
        response = await client.post(
            partner.webhook_url, content=body, headers=headers, timeout=DELIVERY_TIMEOUT
        )
    except httpx.HTTPError as e:
        return False, None, type(e).__name__
    return (
        response.is_success,
        response.status_code,
        None if response.is_success else f"HTTP {response.status_code}",
    )


@job_handler(DELIVER_JOB)
async def deliver(ctx: JobContext, payload: dict[str, Any]) -> None:
    session = ctx.session
    delivery = await session.get(WebhookDelivery, payload["delivery_id"], with_for_update=True)
    if delivery is None or delivery.status != DeliveryStatus.PENDING:
        return
    event = await session.get(Event, delivery.event_id)
    partner = await session.get(Partner, delivery.partner_id)
    if event is None or partner is None:
        return
    ok, status_code, error = await _attempt(ctx, partner, event)
    delivery.attempts += 1
    delivery.last_status_code = status_code
    delivery.last_error = error
    bound = log.bind(delivery_id=delivery.id, event_id=event.id, attempt=delivery.attempts)
    if ok:
        delivery.status = DeliveryStatus.SUCCEEDED.value
        delivery.delivered_at = utcnow()
        delivery.next_attempt_at = None
        bound.info("webhook.delivered", status_code=status_code)
        return
    schedule = schedule_for(partner)
    if delivery.attempts > len(schedule):
        delivery.status = DeliveryStatus.DEAD.value
        delivery.next_attempt_at = None
        bound.warning("webhook.dead_lettered", error=error)
        return
    delivery.next_attempt_at = utcnow() + timedelta(seconds=schedule[delivery.attempts - 1])
    await enqueue(
        session,
        DELIVER_JOB,
        {"delivery_id": delivery.id},
        run_at=delivery.next_attempt_at,
        dedupe_key=f"{delivery.id}:{delivery.attempts}",
    )
    bound.info(
        "webhook.retry_scheduled", error=error, next_attempt_at=delivery.next_attempt_at.isoformat()
    )


async def redeliver(session: AsyncSession, partner_id: str, delivery_id: str) -> WebhookDelivery:
    """Start a dead (or delivered) delivery again from its first retry step."""
    delivery = await owned(session, WebhookDelivery, delivery_id, partner_id, for_update=True)
    if delivery.status == DeliveryStatus.PENDING:
        raise Conflict("The delivery is still being attempted.", code="delivery_pending")
    delivery.status = DeliveryStatus.PENDING.value
    delivery.attempts = 0
    delivery.next_attempt_at = utcnow()
    await session.flush()
    await enqueue(session, DELIVER_JOB, {"delivery_id": delivery.id})
    return delivery
