"""Routes under /v1/scenarios/fuel (scope ``scenario:fuel``)."""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from litestar import Request, delete, get, post
from litestar.params import FromPath, FromQuery, JSONBody
from sqlmodel import col, select

from gateway.core_banking import core_banking_for
from gateway.deps import CurrentPartner, DbSession, Vault
from gateway.idempotency.service import HEADER, money_reference
from gateway.pagination import DEFAULT_LIMIT, Page, paginate
from gateway.partners.ownership import owned
from gateway.scenarios.fuel import service
from gateway.scenarios.fuel.models import FuelTransaction, Mandate, Station
from gateway.scenarios.fuel.plates import is_new_energy
from gateway.scenarios.fuel.schemas import (
    FuelTransactionCreate,
    FuelTransactionRead,
    MandateCreate,
    MandateRead,
    RefundCreate,
    RefundRead,
    StationCreate,
    StationRead,
)
from gateway.scenarios.models import Transaction

TAGS = ["fuel"]


def _station(s: Station) -> StationRead:
    return StationRead(
        id=s.id,
        external_ref=s.external_ref,
        name=s.name,
        address=s.address,
        pumps=s.pumps,
        created_at=s.created_at,
    )


def _mandate(m: Mandate) -> MandateRead:
    return MandateRead(
        id=m.id,
        external_ref=m.external_ref,
        customer_id=m.customer_id,
        plate_no=m.plate_no,
        new_energy=is_new_energy(m.plate_no),
        status=m.status,
        tank_capacity_l=m.tank_capacity_l,
        per_txn_limit=m.per_txn_limit,
        daily_limit=m.daily_limit,
        created_at=m.created_at,
        revoked_at=m.revoked_at,
    )


def _fuel(f: FuelTransaction, t: Transaction) -> FuelTransactionRead:
    return FuelTransactionRead(
        id=f.id,
        external_ref=t.external_ref,
        station_id=f.station_id,
        mandate_id=f.mandate_id,
        customer_id=str(t.customer_id),
        plate_no=f.plate_no,
        pump_no=f.pump_no,
        fuel_grade=f.fuel_grade,
        litres_ml=f.litres_ml,
        unit_price=f.unit_price,
        amount=t.amount,
        subsidy=t.subsidy,
        charged=t.amount - t.subsidy,
        refunded=t.refunded,
        campaign_id=t.campaign_id,
        status=t.status,
        business_date=f.business_date,
        occurred_at=t.occurred_at,
    )


@post("/stations", tags=TAGS, summary="Register a fuel station (a sub-channel)")
async def create_station(
    data: JSONBody[StationCreate], partner: CurrentPartner, db_session: DbSession
) -> StationRead:
    return _station(await service.create_station(db_session, partner.id, data))


@get("/stations", tags=TAGS)
async def list_stations(
    partner: CurrentPartner,
    db_session: DbSession,
    limit: FromQuery[int] = DEFAULT_LIMIT,
    cursor: FromQuery[str | None] = None,
) -> Page[StationRead]:
    stmt = select(Station).where(col(Station.partner_id) == partner.id)
    rows, next_cursor = await paginate(
        db_session, stmt, col(Station.id), limit=limit, cursor=cursor
    )
    return Page(data=[_station(s) for s in rows], next_cursor=next_cursor)


@get("/stations/{station_id:str}", tags=TAGS)
async def get_station(
    station_id: FromPath[str], partner: CurrentPartner, db_session: DbSession
) -> StationRead:
    return _station(await owned(db_session, Station, station_id, partner.id))


@post("/mandates", tags=TAGS, summary="Bind a plate to a driver's account (免密支付协议)")
async def create_mandate(
    data: JSONBody[MandateCreate], partner: CurrentPartner, db_session: DbSession
) -> MandateRead:
    return _mandate(await service.create_mandate(db_session, partner.id, data))


@get("/mandates", tags=TAGS)
async def list_mandates(
    partner: CurrentPartner,
    db_session: DbSession,
    customer_id: FromQuery[str | None] = None,
    plate_no: FromQuery[str | None] = None,
    status: FromQuery[Literal["active", "revoked"] | None] = None,
    limit: FromQuery[int] = DEFAULT_LIMIT,
    cursor: FromQuery[str | None] = None,
) -> Page[MandateRead]:
    stmt = select(Mandate).where(col(Mandate.partner_id) == partner.id)
    if plate_no is not None:
        stmt = stmt.where(col(Mandate.plate_no) == service.plate_or_error(plate_no))
    for column, value in ((Mandate.customer_id, customer_id), (Mandate.status, status)):
        if value is not None:
            stmt = stmt.where(col(column) == value)
    rows, next_cursor = await paginate(
        db_session, stmt, col(Mandate.id), limit=limit, cursor=cursor
    )
    return Page(data=[_mandate(m) for m in rows], next_cursor=next_cursor)


@get("/mandates/{mandate_id:str}", tags=TAGS)
async def get_mandate(
    mandate_id: FromPath[str], partner: CurrentPartner, db_session: DbSession
) -> MandateRead:
    return _mandate(await owned(db_session, Mandate, mandate_id, partner.id))


@delete("/mandates/{mandate_id:str}", tags=TAGS, summary="Revoke a mandate", status_code=200)
async def revoke_mandate(
    mandate_id: FromPath[str], partner: CurrentPartner, db_session: DbSession
) -> MandateRead:
    return _mandate(await service.revoke_mandate(db_session, partner.id, mandate_id))


@post("/transactions", tags=TAGS, summary="Charge a fueling to the plate's mandate")
async def create_transaction(
    data: JSONBody[FuelTransactionCreate],
    partner: CurrentPartner,
    db_session: DbSession,
    vault: Vault,
    request: Request[Any, Any, Any],
) -> FuelTransactionRead:
    core = core_banking_for(db_session, request.app.state.services["core_http"])
    row, txn = await service.fuel(
        db_session,
        vault,
        core,
        partner_id=partner.id,
        data=data,
        reference=money_reference("fuel", partner.id, request.headers[HEADER]),
    )
    return _fuel(row, txn)


@get("/transactions", tags=TAGS)
async def list_transactions(
    partner: CurrentPartner,
    db_session: DbSession,
    station_id: FromQuery[str | None] = None,
    plate_no: FromQuery[str | None] = None,
    business_date: FromQuery[date | None] = None,
    limit: FromQuery[int] = DEFAULT_LIMIT,
    cursor: FromQuery[str | None] = None,
) -> Page[FuelTransactionRead]:
    stmt = select(FuelTransaction).where(col(FuelTransaction.partner_id) == partner.id)
    if plate_no is not None:
        stmt = stmt.where(col(FuelTransaction.plate_no) == service.plate_or_error(plate_no))
    if station_id is not None:
        stmt = stmt.where(col(FuelTransaction.station_id) == station_id)
    if business_date is not None:
        stmt = stmt.where(col(FuelTransaction.business_date) == business_date)
    rows, next_cursor = await paginate(
        db_session, stmt, col(FuelTransaction.id), limit=limit, cursor=cursor
    )
    money = await service.transactions_for(db_session, rows)
    return Page(data=[_fuel(f, money[f.id]) for f in rows], next_cursor=next_cursor)


@get("/transactions/{txn_id:str}", tags=TAGS)
async def get_transaction(
    txn_id: FromPath[str], partner: CurrentPartner, db_session: DbSession
) -> FuelTransactionRead:
    return _fuel(*await service.get_fuel_transaction(db_session, partner.id, txn_id))


@post(
    "/transactions/{txn_id:str}/refunds",
    tags=TAGS,
    summary="Refund part or all of a fueling (same business day)",
)
async def refund_transaction(
    txn_id: FromPath[str],
    data: JSONBody[RefundCreate],
    partner: CurrentPartner,
    db_session: DbSession,
    vault: Vault,
    request: Request[Any, Any, Any],
) -> RefundRead:
    core = core_banking_for(db_session, request.app.state.services["core_http"])
    txn = await service.refund(
        db_session,
        vault,
        core,
        partner_id=partner.id,
        txn_id=txn_id,
        amount=data.amount,
        reference=money_reference("fuel-refund", partner.id, request.headers[HEADER]),
    )
    return RefundRead(
        id=txn.id,
        transaction_id=txn_id,
        amount=txn.amount,
        subsidy_returned=txn.subsidy,
        credited=txn.amount - txn.subsidy,
        status=txn.status,
        business_date=txn.business_date,
        occurred_at=txn.occurred_at,
    )


ROUTES = [
    create_station,
    list_stations,
    get_station,
    create_mandate,
    list_mandates,
    get_mandate,
    revoke_mandate,
    create_transaction,
    list_transactions,
    get_transaction,
    refund_transaction,
]
