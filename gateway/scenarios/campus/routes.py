"""Routes under /v1/scenarios/campus (scope ``scenario:campus``)."""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from litestar import Request, get, post
from litestar.params import FromPath, FromQuery, JSONBody
from sqlmodel import col, select

from gateway.core_banking import core_banking_for
from gateway.customers.rules import is_minor, today
from gateway.deps import CurrentPartner, DbSession, Vault
from gateway.idempotency.service import HEADER, money_reference
from gateway.pagination import DEFAULT_LIMIT, Page, paginate
from gateway.partners.ownership import owned
from gateway.scenarios.campus import cards, service, tuition
from gateway.scenarios.campus.models import CampusCard, CampusMerchant, TuitionBill
from gateway.scenarios.campus.schemas import (
    CardMovementRead,
    CardRead,
    MerchantCreate,
    MerchantRead,
    PaymentCreate,
    TopUpCreate,
    TuitionBillRead,
    TuitionBillsCreate,
    WithdrawalRead,
)

TAGS = ["campus"]


def _merchant(m: CampusMerchant) -> MerchantRead:
    return MerchantRead(
        id=m.id, external_ref=m.external_ref, name=m.name, type=m.type, created_at=m.created_at
    )


def _card(c: CampusCard, born: date, day: date) -> CardRead:
    return CardRead(
        id=c.id,
        customer_id=c.customer_id,
        student_no=c.student_no,
        role=c.role,
        status=c.status,
        balance=c.balance,
        minor=is_minor(born, day),
        created_at=c.created_at,
        closed_at=c.closed_at,
    )


def _bill(b: TuitionBill, born: date, day: date) -> TuitionBillRead:
    return TuitionBillRead(
        id=b.id,
        card_id=b.card_id,
        customer_id=b.customer_id,
        student_no=b.student_no,
        item=b.item,
        term=b.term,
        amount=b.amount,
        due_date=b.due_date,
        status=b.status,
        external_ref=b.external_ref,
        transaction_id=b.txn_id,
        minor=is_minor(born, day),
    )


async def _cards_read(db_session: DbSession, found: list[CampusCard]) -> list[CardRead]:
    born = await service.birth_dates(db_session, {c.customer_id for c in found})
    day = today()
    return [_card(c, born[c.customer_id], day) for c in found]


async def _bills_read(db_session: DbSession, found: list[TuitionBill]) -> list[TuitionBillRead]:
    born = await service.birth_dates(db_session, {b.customer_id for b in found})
    day = today()
    return [_bill(b, born[b.customer_id], day) for b in found]


def _movement(m: cards.Movement) -> CardMovementRead:
    return CardMovementRead(
        id=m.txn.id,
        card_id=m.card.id,
        kind=m.activity.kind,
        amount=m.txn.amount,
        balance=m.activity.balance_after,
        status=m.txn.status,
        merchant_id=m.activity.merchant_id,
        terminal_id=m.activity.terminal_id,
    )


# -- merchants ---------------------------------------------------------------------------------


@post("/merchants", tags=TAGS, summary="Register a campus merchant (a sub-channel)")
async def create_merchant(
    data: JSONBody[MerchantCreate], partner: CurrentPartner, db_session: DbSession
) -> MerchantRead:
    return _merchant(await service.create_merchant(db_session, partner.id, data))


@get("/merchants", tags=TAGS)
async def list_merchants(
    partner: CurrentPartner,
    db_session: DbSession,
    type: FromQuery[Literal["canteen", "shop", "service"] | None] = None,  # noqa: A002
    limit: FromQuery[int] = DEFAULT_LIMIT,
    cursor: FromQuery[str | None] = None,
) -> Page[MerchantRead]:
    stmt = select(CampusMerchant).where(col(CampusMerchant.partner_id) == partner.id)
    if type is not None:
        stmt = stmt.where(col(CampusMerchant.type) == type)
    rows, next_cursor = await paginate(
        db_session, stmt, col(CampusMerchant.id), limit=limit, cursor=cursor
    )
    return Page(data=[_merchant(m) for m in rows], next_cursor=next_cursor)


@get("/merchants/{merchant_id:str}", tags=TAGS)
async def get_merchant(
    merchant_id: FromPath[str], partner: CurrentPartner, db_session: DbSession
) -> MerchantRead:
    return _merchant(await owned(db_session, CampusMerchant, merchant_id, partner.id))


# -- cards -------------------------------------------------------------------------------------


@get("/cards", tags=TAGS, summary="Campus cards, filtered by role, status or student number")
async def list_cards(
    partner: CurrentPartner,
    db_session: DbSession,
    role: FromQuery[Literal["student", "staff"] | None] = None,
    status: FromQuery[Literal["active", "frozen", "closed"] | None] = None,
    student_no: FromQuery[str | None] = None,
    customer_id: FromQuery[str | None] = None,
    limit: FromQuery[int] = DEFAULT_LIMIT,
    cursor: FromQuery[str | None] = None,
) -> Page[CardRead]:
    where = service.card_filters(
        partner.id, role=role, status=status, student_no=student_no, customer_id=customer_id
    )
    stmt = select(CampusCard).where(*where)
    rows, next_cursor = await paginate(
        db_session, stmt, col(CampusCard.id), limit=limit, cursor=cursor
    )
    return Page(data=await _cards_read(db_session, list(rows)), next_cursor=next_cursor)


@get("/cards/{card_id:str}", tags=TAGS)
async def get_card(
    card_id: FromPath[str], partner: CurrentPartner, db_session: DbSession
) -> CardRead:
    card = await owned(db_session, CampusCard, card_id, partner.id)
    return (await _cards_read(db_session, [card]))[0]


@post("/cards/{card_id:str}/top-ups", tags=TAGS, summary="Top up a card from the bank account")
async def top_up(
    card_id: FromPath[str],
    data: JSONBody[TopUpCreate],
    partner: CurrentPartner,
    db_session: DbSession,
    vault: Vault,
    request: Request[Any, Any, Any],
) -> CardMovementRead:
    core = core_banking_for(db_session, request.app.state.services["core_http"])
    moved = await cards.top_up(
        db_session,
        vault,
        core,
        partner_id=partner.id,
        card_id=card_id,
        amount=data.amount,
        reference=money_reference("campus-top-up", partner.id, request.headers[HEADER]),
        context=data.context,
    )
    return _movement(moved)


@post("/cards/{card_id:str}/freeze", tags=TAGS, status_code=200, summary="Report a card lost")
async def freeze(
    card_id: FromPath[str], partner: CurrentPartner, db_session: DbSession
) -> CardRead:
    card = await service.set_frozen(db_session, partner.id, card_id, frozen=True)
    return (await _cards_read(db_session, [card]))[0]


@post("/cards/{card_id:str}/unfreeze", tags=TAGS, status_code=200, summary="A lost card found")
async def unfreeze(
    card_id: FromPath[str], partner: CurrentPartner, db_session: DbSession
) -> CardRead:
    card = await service.set_frozen(db_session, partner.id, card_id, frozen=False)
    return (await _cards_read(db_session, [card]))[0]


@post(
    "/cards/{card_id:str}/withdrawal",
    tags=TAGS,
    summary="Withdraw the balance to the bank account and close the card (graduation)",
)
async def withdraw(
    card_id: FromPath[str],
    partner: CurrentPartner,
    db_session: DbSession,
    vault: Vault,
    request: Request[Any, Any, Any],
) -> WithdrawalRead:
    core = core_banking_for(db_session, request.app.state.services["core_http"])
    card, txn = await cards.withdraw(
        db_session,
        vault,
        core,
        partner_id=partner.id,
        card_id=card_id,
        reference=money_reference("campus-withdrawal", partner.id, request.headers[HEADER]),
    )
    return WithdrawalRead(
        id=txn.id if txn else None,
        card_id=card.id,
        amount=txn.amount if txn else 0,
        card_status=card.status,
    )


@post("/payments", tags=TAGS, summary="Pay a campus merchant with a card")
async def pay(
    data: JSONBody[PaymentCreate],
    partner: CurrentPartner,
    db_session: DbSession,
    request: Request[Any, Any, Any],
) -> CardMovementRead:
    moved = await cards.pay(
        db_session,
        partner_id=partner.id,
        card_id=data.card_id,
        merchant_id=data.merchant_id,
        terminal_id=data.terminal_id,
        amount=data.amount,
        reference=money_reference("campus-pay", partner.id, request.headers[HEADER]),
        external_ref=data.external_ref,
    )
    return _movement(moved)


# -- tuition -----------------------------------------------------------------------------------


@post("/tuition-bills", tags=TAGS, summary="Issue tuition bills in bulk (all or none)")
async def issue_tuition_bills(
    data: JSONBody[TuitionBillsCreate], partner: CurrentPartner, db_session: DbSession
) -> Page[TuitionBillRead]:
    bills = await tuition.issue_bills(db_session, partner.id, data.items)
    return Page(data=await _bills_read(db_session, bills), next_cursor=None)


@get("/tuition-bills", tags=TAGS)
async def list_tuition_bills(
    partner: CurrentPartner,
    db_session: DbSession,
    student_no: FromQuery[str | None] = None,
    term: FromQuery[str | None] = None,
    status: FromQuery[Literal["unpaid", "paid"] | None] = None,
    limit: FromQuery[int] = DEFAULT_LIMIT,
    cursor: FromQuery[str | None] = None,
) -> Page[TuitionBillRead]:
    stmt = select(TuitionBill).where(col(TuitionBill.partner_id) == partner.id)
    for column, value in (
        (TuitionBill.student_no, student_no),
        (TuitionBill.term, term),
        (TuitionBill.status, status),
    ):
        if value is not None:
            stmt = stmt.where(col(column) == value)
    rows, next_cursor = await paginate(
        db_session, stmt, col(TuitionBill.id), limit=limit, cursor=cursor
    )
    return Page(data=await _bills_read(db_session, list(rows)), next_cursor=next_cursor)


@post(
    "/tuition-bills/{bill_id:str}/pay",
    tags=TAGS,
    summary="Pay a tuition bill from the student's bank account",
)
async def pay_tuition(
    bill_id: FromPath[str],
    partner: CurrentPartner,
    db_session: DbSession,
    vault: Vault,
    request: Request[Any, Any, Any],
) -> TuitionBillRead:
    core = core_banking_for(db_session, request.app.state.services["core_http"])
    bill, _ = await tuition.pay_bill(
        db_session,
        vault,
        core,
        partner_id=partner.id,
        bill_id=bill_id,
        reference=money_reference("campus-tuition", partner.id, request.headers[HEADER]),
    )
    return (await _bills_read(db_session, [bill]))[0]


ROUTES = [
    create_merchant,
    list_merchants,
    get_merchant,
    list_cards,
    get_card,
    top_up,
    freeze,
    unfreeze,
    withdraw,
    pay,
    issue_tuition_bills,
    list_tuition_bills,
    pay_tuition,
]
