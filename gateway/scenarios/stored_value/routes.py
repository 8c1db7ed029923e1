"""Routes under /v1/scenarios/stored-value (scope ``scenario:stored_value``) and the staff
wind-down under /admin/v1/partners/{id}/wind-down (``ops_checker``)."""

from __future__ import annotations

from typing import Any

from litestar import Request, get, post
from litestar.di import Provide
from litestar.params import FromPath, FromQuery, JSONBody
from sqlmodel import col, select

from gateway.core_banking import CoreBanking, core_banking_for
from gateway.deps import CurrentPartner, DbSession, Staff, Vault
from gateway.errors import NotFound
from gateway.idempotency.service import HEADER, money_reference
from gateway.pagination import DEFAULT_LIMIT, Page, paginate
from gateway.partners.ownership import owned
from gateway.scenarios.stored_value import service, winddown
from gateway.scenarios.stored_value.models import Card, Merchant, Movement
from gateway.scenarios.stored_value.schemas import (
    CardCreate,
    CardRead,
    ConsumptionCreate,
    EscrowRead,
    MovementRead,
    ProductRead,
    RefundCreate,
    TopUpCreate,
    WindDownRead,
)
from gateway.staff.guards import require_role
from gateway.staff.models import Role

TAGS = ["stored-value"]
_checker = {"staff": Provide(require_role(Role.OPS_CHECKER))}
_readers = {"staff": Provide(require_role(Role.OPS_CHECKER, Role.OPS_MAKER, Role.AUDITOR))}


def _card(c: Card) -> CardRead:
    return CardRead(
        id=c.id,
        customer_id=c.customer_id,
        external_ref=c.external_ref,
        named=c.named,
        product=ProductRead(
            type=c.product_type, lessons=c.package_lessons, term_months=c.package_term_months
        ),
        balance=c.balance,
        lessons_remaining=c.lessons_remaining,
        months_purchased=c.months_purchased,
        status=c.status,
        created_at=c.created_at,
    )


def _movement(card: Card, m: Movement) -> MovementRead:
    return MovementRead(
        card_id=card.id,
        kind=m.kind,
        amount=m.amount,
        lessons=m.lessons,
        transaction_id=m.txn_id,
        balance=card.balance,
        lessons_remaining=card.lessons_remaining,
        reason=m.reason,
    )


def _core(request: Request[Any, Any, Any], db_session: DbSession) -> CoreBanking:
    return core_banking_for(db_session, request.app.state.services["core_http"])


@post("/cards", tags=TAGS, summary="Issue a prepaid card (named or anonymous)")
async def create_card(
    data: JSONBody[CardCreate], partner: CurrentPartner, db_session: DbSession
) -> CardRead:
    return _card(await service.create_card(db_session, partner.partner, data))


@get("/cards", tags=TAGS)
async def list_cards(
    partner: CurrentPartner,
    db_session: DbSession,
    customer_id: FromQuery[str | None] = None,
    limit: FromQuery[int] = DEFAULT_LIMIT,
    cursor: FromQuery[str | None] = None,
) -> Page[CardRead]:
    stmt = select(Card).where(col(Card.partner_id) == partner.id)
    if customer_id is not None:
        stmt = stmt.where(col(Card.customer_id) == customer_id)
    rows, next_cursor = await paginate(db_session, stmt, col(Card.id), limit=limit, cursor=cursor)
    return Page(data=[_card(c) for c in rows], next_cursor=next_cursor)


@get("/cards/{card_id:str}", tags=TAGS)
async def get_card(
    card_id: FromPath[str], partner: CurrentPartner, db_session: DbSession
) -> CardRead:
    return _card(await owned(db_session, Card, card_id, partner.id))


@post(
    "/cards/{card_id:str}/top-ups",
    tags=TAGS,
    summary="Charge the holder; the money lands in the merchant's supervised escrow",
)
async def top_up(
    card_id: FromPath[str],
    data: JSONBody[TopUpCreate],
    partner: CurrentPartner,
    db_session: DbSession,
    vault: Vault,
    request: Request[Any, Any, Any],
) -> MovementRead:
    card, movement = await service.top_up(
        db_session,
        vault,
        _core(request, db_session),
        partner=partner.partner,
        card_id=card_id,
        data=data,
        reference=money_reference("svtop", partner.id, request.headers[HEADER]),
    )
    return _movement(card, movement)


@post(
    "/cards/{card_id:str}/consumptions",
    tags=TAGS,
    summary="Record a consumption; its value is released from escrow to the merchant",
)
async def consume(
    card_id: FromPath[str],
    data: JSONBody[ConsumptionCreate],
    partner: CurrentPartner,
    db_session: DbSession,
    request: Request[Any, Any, Any],
) -> MovementRead:
    card, movement = await service.consume(
        db_session,
        partner=partner.partner,
        card_id=card_id,
        data=data,
        reference=money_reference("svrel", partner.id, request.headers[HEADER]),
    )
    return _movement(card, movement)


@post("/cards/{card_id:str}/refunds", tags=TAGS, summary="Refund the holder from escrow")
async def refund(
    card_id: FromPath[str],
    data: JSONBody[RefundCreate],
    partner: CurrentPartner,
    db_session: DbSession,
    vault: Vault,
    request: Request[Any, Any, Any],
) -> MovementRead:
    card, movement = await service.refund_card(
        db_session,
        vault,
        _core(request, db_session),
        partner=partner.partner,
        card_id=card_id,
        data=data,
        reference=money_reference("svref", partner.id, request.headers[HEADER]),
    )
    return _movement(card, movement)


@get("/escrow", tags=TAGS, summary="Outstanding balances, escrow, reserve and what is releasable")
async def escrow(partner: CurrentPartner, db_session: DbSession) -> EscrowRead:
    return await service.escrow_view(db_session, partner.partner)


@post(
    "/admin/v1/partners/{partner_id:str}/wind-down",
    tags=["partners"],
    dependencies=_checker,
    status_code=200,
    summary="Freeze a stored-value merchant's releases and refund every card from escrow",
)
async def wind_down(
    partner_id: FromPath[str],
    db_session: DbSession,
    staff: Staff,
    vault: Vault,
    request: Request[Any, Any, Any],
) -> WindDownRead:
    return await winddown.wind_down(
        db_session, vault, _core(request, db_session), partner_id=partner_id, staff=staff
    )


@get("/admin/v1/partners/{partner_id:str}/wind-down", tags=["partners"], dependencies=_readers)
async def wind_down_report(
    partner_id: FromPath[str], db_session: DbSession, staff: Staff
) -> WindDownRead:
    merchant = await db_session.get(Merchant, partner_id)
    if merchant is None or merchant.wound_down_at is None:
        raise NotFound("The partner was not wound down.")
    return winddown.report(merchant)


ROUTES = [create_card, list_cards, get_card, top_up, consume, refund, escrow]
ADMIN_ROUTES = [wind_down, wind_down_report]
