"""Partner routes for customers and account batches (DESIGN §6), plus the sandbox deposit."""

from __future__ import annotations

from typing import Any, Literal

import msgspec
from litestar import Request, Response, get, post
from litestar.di import Provide
from litestar.params import FromPath, FromQuery, JSONBody
from sqlmodel import col, select

from gateway import audit, risk
from gateway.core_banking import core_banking_for, fund_account
from gateway.core_banking.port import PositiveFen
from gateway.csvsafe import render_csv
from gateway.customers import uploads
from gateway.customers.batches import after_opening, check_channel, create_batch
from gateway.customers.models import AccountBatch, AccountBatchItem, Customer, ItemStatus
from gateway.customers.rules import is_minor, today
from gateway.customers.schemas import (
    ApplicantIn,
    BatchAccepted,
    BatchCreate,
    BatchItemRead,
    BatchRead,
    CustomerCreate,
    CustomerRead,
    OpeningRead,
    RowErrorRead,
)
from gateway.customers.service import Applicant, Channel, customer_for_partner, open_customer
from gateway.deps import AppSettings, CurrentPartner, DbSession, Staff, Vault
from gateway.errors import (
    BusinessRuleViolation,
    FieldError,
    NotFound,
    PayloadTooLarge,
    ValidationFailed,
)
from gateway.ids import new_id
from gateway.pagination import DEFAULT_LIMIT, Page, paginate
from gateway.partners.ownership import owned
from gateway.pii import PiiVault, mask_account, mask_id_number, mask_name, mask_phone
from gateway.schemas import Strict
from gateway.settings import DEFAULT_BATCH_BODY_LIMIT
from gateway.staff.guards import require_role
from gateway.staff.models import Role


def _applicant(data: ApplicantIn) -> Applicant:
    return Applicant(
        name=data.name,
        id_number=data.id_number,
        phone=data.phone,
        external_ref=data.external_ref,
        referral_code=data.referral_code,
        attributes=data.attributes,
        context=data.context,
    )


def _account(vault: PiiVault, customer: Customer) -> str:
    return vault.decrypt(customer.account_no, context="customer.account_no")


@post("/customers", tags=["customers"], opt={"scope": "accounts:write"}, summary="Open one account")
async def open_one(
    data: JSONBody[CustomerCreate],
    partner: CurrentPartner,
    db_session: DbSession,
    vault: Vault,
    request: Request[Any, Any, Any],
) -> Response[OpeningRead]:
    if not data.scenario:
        raise ValidationFailed(errors=[FieldError("scenario", "required", "Name the scenario.")])
    channel = Channel(partner.id, data.scenario, data.sub_channel, data.campaign)
    await check_channel(db_session, partner.partner, channel)
    core = core_banking_for(db_session, request.app.state.services["core_http"])
    applicant = _applicant(data)
    [verdict] = await risk.assess_openings(db_session, vault, channel, [applicant])
    verdict.raise_if_blocked()  # 422 risk_blocked; the request rolls back, nothing is written
    opening = await open_customer(db_session, vault, core, channel, applicant, today=today())
    if opening.error is not None:
        raise BusinessRuleViolation(opening.error.message, code=opening.error.code)
    await after_opening(db_session, channel, [(opening, data.attributes)])
    body = OpeningRead(
        id=str(opening.customer_id),
        status=opening.status,
        account_no=mask_account(str(opening.account_no)),
    )
    return Response(body, status_code=201)


@get("/customers/{customer_id:str}", tags=["customers"], opt={"scope": "accounts:read"})
async def get_customer(
    customer_id: FromPath[str], partner: CurrentPartner, db_session: DbSession, vault: Vault
) -> CustomerRead:
    customer, link = await customer_for_partner(db_session, customer_id, partner.id)
    return CustomerRead(
        id=customer.id,
        name=mask_name(vault.decrypt(customer.name, context="customer.name")),
        id_number=mask_id_number(vault.decrypt(customer.id_number, context="customer.id_number")),
        phone=mask_phone(vault.decrypt(customer.phone, context="customer.phone")),
        account_no=mask_account(_account(vault, customer)),
        external_ref=link.external_ref,
        minor=is_minor(customer.birth_date, today()),
        created_at=customer.created_at,
    )


async def _read_upload(
    request: Request[Any, Any, Any], settings_limit: int
) -> tuple[list[Applicant], dict[str, str | None]]:
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    raw = await request.body()
    if len(raw) > settings_limit:
        raise PayloadTooLarge(f"Batch uploads are at most {settings_limit} bytes.")
    if media in uploads.CSV_TYPES or media == uploads.XLSX_TYPE:
        params = {k: request.query_params.get(k) for k in ("scenario", "sub_channel", "campaign")}
        if not params["scenario"]:
            raise BusinessRuleViolation(
                "Name the scenario in the query string.", code="scenario_missing"
            )
        rows = uploads.read_csv(raw) if media in uploads.CSV_TYPES else uploads.read_xlsx(raw)
        return rows, params
    if media != "application/json":
        raise BusinessRuleViolation(
            "Send JSON, CSV or XLSX.", code="unsupported_media_type", status=415
        )
    body = msgspec.json.decode(raw, type=BatchCreate)
    if len(body.items) > uploads.MAX_ROWS:
        raise uploads.too_large()
    if not body.items:
        raise uploads.UploadRejected("The batch has no rows.", code="batch_empty")
    return [_applicant(i) for i in body.items], {
        "scenario": body.scenario,
        "sub_channel": body.sub_channel,
        "campaign": body.campaign,
    }


@post(
    "/account-batches",
    tags=["customers"],
    opt={"scope": "accounts:write"},
    status_code=202,
    request_max_body_size=DEFAULT_BATCH_BODY_LIMIT,
    summary="Open many accounts (JSON, CSV or XLSX; up to 100,000 rows)",
)
async def submit_batch(
    request: Request[Any, Any, Any],
    partner: CurrentPartner,
    db_session: DbSession,
    vault: Vault,
    settings: AppSettings,
) -> BatchAccepted:
    rows, params = await _read_upload(request, settings.batch_body_limit)
    channel = Channel(
        partner.id, str(params["scenario"]), params["sub_channel"], params["campaign"]
    )
    batch = await create_batch(db_session, vault, partner.partner, channel, rows)
    return BatchAccepted(id=batch.id, status=batch.status, total=batch.total)


def _batch_read(batch: AccountBatch) -> BatchRead:
    return BatchRead(
        id=batch.id,
        status=batch.status,
        scenario=batch.scenario,
        sub_channel=batch.sub_channel,
        campaign=batch.campaign,
        total=batch.total,
        processed=batch.processed,
        opened=batch.opened,
        existing=batch.existing,
        rejected=batch.rejected,
        created_at=batch.created_at,
        completed_at=batch.completed_at,
    )


@get("/account-batches/{batch_id:str}", tags=["customers"], opt={"scope": "accounts:read"})
async def get_batch(
    batch_id: FromPath[str], partner: CurrentPartner, db_session: DbSession
) -> BatchRead:
    return _batch_read(await owned(db_session, AccountBatch, batch_id, partner.id))


ITEM_COLUMNS = (
    "row",
    "external_ref",
    "status",
    "customer_id",
    "account_no",
    "error_code",
    "error_message",
)


@get("/account-batches/{batch_id:str}/items", tags=["customers"], opt={"scope": "accounts:read"})
async def list_batch_items(
    batch_id: FromPath[str],
    partner: CurrentPartner,
    db_session: DbSession,
    vault: Vault,
    status: FromQuery[Literal["pending", "opened", "existing", "rejected"] | None] = None,
    limit: FromQuery[int] = DEFAULT_LIMIT,
    cursor: FromQuery[str | None] = None,
    format: FromQuery[Literal["json", "csv"]] = "json",  # noqa: A002  (the public parameter name)
) -> Response[Any]:
    await owned(db_session, AccountBatch, batch_id, partner.id)
    stmt = select(AccountBatchItem).where(col(AccountBatchItem.batch_id) == batch_id)
    if status:
        stmt = stmt.where(col(AccountBatchItem.status) == status)
    rows, next_cursor = await paginate(
        db_session, stmt, col(AccountBatchItem.row), limit=limit, cursor=cursor, key=lambda r: r.row
    )
    # A pending row holds the id its customer will get; only processed rows show one.
    ids = {r.customer_id for r in rows if r.customer_id and r.status != ItemStatus.PENDING}
    customers = {
        c.id: c
        for c in (await db_session.scalars(select(Customer).where(col(Customer.id).in_(ids)))).all()
    }
    items = [
        BatchItemRead(
            row=r.row,
            external_ref=r.external_ref,
            status=r.status,
            customer_id=r.customer_id if r.customer_id in customers else None,
            account_no=mask_account(_account(vault, customers[r.customer_id]))
            if r.customer_id in customers
            else None,
            error=RowErrorRead(r.error_code, r.error_message or "") if r.error_code else None,
        )
        for r in rows
    ]
    if format == "csv":
        body = render_csv(
            ITEM_COLUMNS,
            [
                (
                    i.row,
                    i.external_ref,
                    i.status,
                    i.customer_id,
                    i.account_no,
                    i.error and i.error.code,
                    i.error and i.error.message,
                )
                for i in items
            ],
        )
        headers = {"Link": f'<?cursor={next_cursor}>; rel="next"'} if next_cursor else {}
        return Response(body, media_type="text/csv", headers=headers)
    return Response(Page(data=items, next_cursor=next_cursor))


class DepositCreate(Strict):
    amount: PositiveFen


class DepositRead(msgspec.Struct):
    customer_id: str
    amount: int
    currency: str
    reference: str
    status: str


@post(
    "/admin/v1/sandbox/customers/{customer_id:str}/deposits",
    tags=["sandbox"],
    dependencies={"staff": Provide(require_role(Role.ADMIN))},
    summary="Fund a customer's sandbox account (only with the built-in sandbox core)",
)
async def sandbox_deposit(
    customer_id: FromPath[str],
    data: JSONBody[DepositCreate],
    db_session: DbSession,
    staff: Staff,
    vault: Vault,
) -> DepositRead:
    customer = await db_session.get(Customer, customer_id)
    if customer is None:
        raise NotFound("No such customer.")
    reference = new_id("txn")
    result = await fund_account(
        db_session, account_no=_account(vault, customer), amount=data.amount, reference=reference
    )
    if not result.ok:
        raise BusinessRuleViolation(
            "The sandbox core refused the deposit.", code=str(result.error_code)
        )
    audit.record(
        db_session,
        actor=staff.actor,
        action="sandbox.deposit",
        subject_type="customer",
        subject_id=customer_id,
        after={"amount": data.amount, "reference": reference},
    )
    return DepositRead(
        customer_id=customer_id,
        amount=data.amount,
        currency="CNY",
        reference=reference,
        status=result.status,
    )


PARTNER_ROUTES = [open_one, get_customer, submit_batch, get_batch, list_batch_items]
SANDBOX_ROUTES = [sandbox_deposit]
