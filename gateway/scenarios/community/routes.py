"""Routes under /v1/scenarios/community (scope ``scenario:community``)."""

from __future__ import annotations

from typing import Any, Literal

from litestar import Request, get, post
from litestar.params import FromPath, FromQuery, JSONBody
from sqlmodel import col, select

from gateway.core_banking import core_banking_for
from gateway.deps import CurrentPartner, DbSession, Vault
from gateway.idempotency.service import HEADER, money_reference
from gateway.pagination import DEFAULT_LIMIT, Page, paginate
from gateway.partners.ownership import owned
from gateway.scenarios.community import service
from gateway.scenarios.community.models import Bill, Community
from gateway.scenarios.community.schemas import (
    BillRead,
    BillsCreate,
    CommunityCreate,
    CommunityRead,
    CommunityStats,
    PaymentCreate,
    PaymentRead,
)


def _community(c: Community) -> CommunityRead:
    return CommunityRead(
        id=c.id,
        external_ref=c.external_ref,
        name=c.name,
        address=c.address,
        households=c.households,
        created_at=c.created_at,
    )


def _bill(b: Bill) -> BillRead:
    return BillRead(
        id=b.id,
        community_id=b.community_id,
        unit=b.unit,
        customer_id=b.customer_id,
        item=b.item,
        period=b.period,
        amount=b.amount,
        status=b.status,
        due_date=b.due_date,
    )


@post("/communities", tags=["community"], summary="Register a community")
async def create_community(
    data: JSONBody[CommunityCreate], partner: CurrentPartner, db_session: DbSession
) -> CommunityRead:
    return _community(await service.create_community(db_session, partner.id, data))


@get("/communities", tags=["community"])
async def list_communities(
    partner: CurrentPartner,
    db_session: DbSession,
    limit: FromQuery[int] = DEFAULT_LIMIT,
    cursor: FromQuery[str | None] = None,
) -> Page[CommunityRead]:
    stmt = select(Community).where(col(Community.partner_id) == partner.id)
    rows, next_cursor = await paginate(
        db_session, stmt, col(Community.id), limit=limit, cursor=cursor
    )
    return Page(data=[_community(c) for c in rows], next_cursor=next_cursor)


@get("/communities/{community_id:str}", tags=["community"])
async def get_community(
    community_id: FromPath[str], partner: CurrentPartner, db_session: DbSession
) -> CommunityRead:
    return _community(await owned(db_session, Community, community_id, partner.id))


@get(
    "/communities/{community_id:str}/stats",
    tags=["community"],
    summary="Account coverage and fee collection",
)
async def community_stats(
    community_id: FromPath[str], partner: CurrentPartner, db_session: DbSession
) -> CommunityStats:
    community = await owned(db_session, Community, community_id, partner.id)
    return await service.stats(db_session, community)


@post("/bills", tags=["community"], summary="Issue fee bills in bulk (all or none)")
async def issue_bills(
    data: JSONBody[BillsCreate], partner: CurrentPartner, db_session: DbSession
) -> Page[BillRead]:
    bills = await service.issue_bills(db_session, partner.id, data.items)
    return Page(data=[_bill(b) for b in bills], next_cursor=None)


@get("/bills", tags=["community"])
async def list_bills(
    partner: CurrentPartner,
    db_session: DbSession,
    community_id: FromQuery[str | None] = None,
    unit: FromQuery[str | None] = None,
    status: FromQuery[Literal["unpaid", "paid", "cancelled"] | None] = None,
    period: FromQuery[str | None] = None,
    limit: FromQuery[int] = DEFAULT_LIMIT,
    cursor: FromQuery[str | None] = None,
) -> Page[BillRead]:
    stmt = select(Bill).where(col(Bill.partner_id) == partner.id)
    for column, value in (
        (Bill.community_id, community_id),
        (Bill.unit, unit),
        (Bill.status, status),
        (Bill.period, period),
    ):
        if value is not None:
            stmt = stmt.where(col(column) == value)
    rows, next_cursor = await paginate(db_session, stmt, col(Bill.id), limit=limit, cursor=cursor)
    return Page(data=[_bill(b) for b in rows], next_cursor=next_cursor)


@post("/bills/{bill_id:str}/cancel", tags=["community"], status_code=200, opt={"idempotent": False})
async def cancel_bill(
    bill_id: FromPath[str], partner: CurrentPartner, db_session: DbSession
) -> BillRead:
    return _bill(await service.cancel_bill(db_session, partner.id, bill_id))


@post("/payments", tags=["community"], summary="Pay a bill in full from the owner's account")
async def pay(
    data: JSONBody[PaymentCreate],
    partner: CurrentPartner,
    db_session: DbSession,
    vault: Vault,
    request: Request[Any, Any, Any],
) -> PaymentRead:
    core = core_banking_for(db_session, request.app.state.services["core_http"])
    bill, txn = await service.pay_bill(
        db_session,
        vault,
        core,
        partner_id=partner.id,
        bill_id=data.bill_id,
        customer_id=data.customer_id,
        reference=money_reference("pay", partner.id, request.headers[HEADER]),
    )
    return PaymentRead(
        id=txn.id,
        bill_id=bill.id,
        customer_id=data.customer_id,
        amount=txn.amount,
        discount=txn.subsidy,
        charged=txn.amount - txn.subsidy,
        status=txn.status,
        campaign_id=txn.campaign_id,
    )


ROUTES = [
    create_community,
    list_communities,
    get_community,
    community_stats,
    issue_bills,
    list_bills,
    cancel_bill,
    pay,
]
