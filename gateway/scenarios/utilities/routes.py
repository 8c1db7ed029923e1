"""Routes under /v1/scenarios/utilities (scope ``scenario:utilities``)."""

from __future__ import annotations

from typing import Any

from litestar import Request, delete, get, post
from litestar.params import FromPath, FromQuery, JSONBody
from sqlmodel import col, select

from gateway.core_banking import core_banking_for
from gateway.deps import CurrentPartner, DbSession, Vault
from gateway.idempotency.service import HEADER, money_reference
from gateway.pagination import DEFAULT_LIMIT, Page, paginate
from gateway.partners.ownership import owned
from gateway.scenarios.utilities import autodebit, service
from gateway.scenarios.utilities.client import pool_of
from gateway.scenarios.utilities.models import UtilityAgreement, UtilityPayment
from gateway.scenarios.utilities.schemas import (
    AgreementCreate,
    AgreementRead,
    BillRead,
    PaymentCreate,
    PaymentRead,
)

TAGS = ["utilities"]


def _payment(p: UtilityPayment) -> PaymentRead:
    return PaymentRead(
        id=p.id,
        biller_id=p.biller_id,
        account_no=p.account_no,
        bill_key=p.bill_key,
        customer_id=p.customer_id,
        amount=p.amount,
        status=p.status,
        transaction_id=p.txn_id,
        reversal_transaction_id=p.reversal_txn_id,
        biller_reference=p.biller_reference,
        error_code=p.error_code,
        agreement_id=p.agreement_id,
        created_at=p.created_at,
        resolved_at=p.resolved_at,
    )


def _agreement(a: UtilityAgreement) -> AgreementRead:
    return AgreementRead(
        id=a.id,
        biller_id=a.biller_id,
        account_no=a.account_no,
        customer_id=a.customer_id,
        cap=a.cap,
        status=a.status,
        external_ref=a.external_ref,
        created_at=a.created_at,
        cancelled_at=a.cancelled_at,
    )


@get("/bills", tags=TAGS, summary="The account's current bill at the biller")
async def query_bill(
    partner: CurrentPartner,
    db_session: DbSession,
    request: Request[Any, Any, Any],
    biller_id: FromQuery[str],
    account_no: FromQuery[str],
) -> BillRead:
    return await service.query_bill(
        db_session,
        pool_of(request.app.state.services),
        request.app.state.limits,
        partner_id=partner.id,
        biller_id=biller_id,
        account_no=account_no,
    )


@post("/payments", tags=TAGS, summary="Pay a bill: debit the customer, write off at the biller")
async def pay(
    data: JSONBody[PaymentCreate],
    partner: CurrentPartner,
    db_session: DbSession,
    vault: Vault,
    request: Request[Any, Any, Any],
) -> PaymentRead:
    services = request.app.state.services
    payment = await service.pay(
        db_session,
        vault,
        core_banking_for(db_session, services["core_http"]),
        pool_of(services),
        partner_id=partner.id,
        biller_id=data.biller_id,
        account_no=data.account_no,
        bill_key=data.bill_key,
        amount=data.amount,
        customer_id=data.customer_id,
        request_ref=money_reference("pay", partner.id, request.headers[HEADER]),
    )
    return _payment(payment)


@get("/payments", tags=TAGS)
async def list_payments(
    partner: CurrentPartner,
    db_session: DbSession,
    status: FromQuery[str | None] = None,
    limit: FromQuery[int] = DEFAULT_LIMIT,
    cursor: FromQuery[str | None] = None,
) -> Page[PaymentRead]:
    stmt = select(UtilityPayment).where(col(UtilityPayment.partner_id) == partner.id)
    if status is not None:
        stmt = stmt.where(col(UtilityPayment.status) == status)
    rows, next_cursor = await paginate(
        db_session, stmt, col(UtilityPayment.id), limit=limit, cursor=cursor
    )
    return Page(data=[_payment(p) for p in rows], next_cursor=next_cursor)


@get("/payments/{payment_id:str}", tags=TAGS)
async def get_payment(
    payment_id: FromPath[str], partner: CurrentPartner, db_session: DbSession
) -> PaymentRead:
    return _payment(await owned(db_session, UtilityPayment, payment_id, partner.id))


@post("/agreements", tags=TAGS, summary="Set up auto-debit (代扣) of an account's bills, capped")
async def create_agreement(
    data: JSONBody[AgreementCreate], partner: CurrentPartner, db_session: DbSession, vault: Vault
) -> AgreementRead:
    agreement = await autodebit.create_agreement(
        db_session, vault, partner_id=partner.id, data=data
    )
    return _agreement(agreement)


@get("/agreements", tags=TAGS)
async def list_agreements(
    partner: CurrentPartner,
    db_session: DbSession,
    status: FromQuery[str | None] = None,
    limit: FromQuery[int] = DEFAULT_LIMIT,
    cursor: FromQuery[str | None] = None,
) -> Page[AgreementRead]:
    stmt = select(UtilityAgreement).where(col(UtilityAgreement.partner_id) == partner.id)
    if status is not None:
        stmt = stmt.where(col(UtilityAgreement.status) == status)
    rows, next_cursor = await paginate(
        db_session, stmt, col(UtilityAgreement.id), limit=limit, cursor=cursor
    )
    return Page(data=[_agreement(a) for a in rows], next_cursor=next_cursor)


@get("/agreements/{agreement_id:str}", tags=TAGS)
async def get_agreement(
    agreement_id: FromPath[str], partner: CurrentPartner, db_session: DbSession
) -> AgreementRead:
    return _agreement(await owned(db_session, UtilityAgreement, agreement_id, partner.id))


@delete("/agreements/{agreement_id:str}", tags=TAGS, status_code=200, summary="Cancel auto-debit")
async def cancel_agreement(
    agreement_id: FromPath[str], partner: CurrentPartner, db_session: DbSession
) -> AgreementRead:
    return _agreement(await autodebit.cancel_agreement(db_session, partner.id, agreement_id))


ROUTES = [
    query_bill,
    pay,
    list_payments,
    get_payment,
    create_agreement,
    list_agreements,
    get_agreement,
    cancel_agreement,
]
