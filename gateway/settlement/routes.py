"""Settlement, contract and reconciliation routes: partners read their own settlements and send
reconciliation files; finance runs settlement and works exceptions (DESIGN §10)."""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from litestar import Request, Response, get, post, put
from litestar.di import Provide
from litestar.params import FromPath, FromQuery, JSONBody
from sqlmodel import col, select

from gateway.deps import AppSettings, CurrentPartner, DbSession, Staff, Vault
from gateway.errors import BusinessRuleViolation, FieldError, NotFound, ValidationFailed
from gateway.pagination import DEFAULT_LIMIT, Page, paginate
from gateway.partners.ownership import owned
from gateway.pii import PiiVault, mask_account
from gateway.settlement import contracts, payouts, reconciliation, runs, statements
from gateway.settlement.models import (
    PartnerContract,
    ReconciliationException,
    ReconciliationFile,
    Settlement,
    SettlementRun,
)
from gateway.settlement.schemas import (
    ContractRead,
    ContractUpdate,
    ExceptionRead,
    ReconciliationRead,
    ResolveCreate,
    RunCreate,
    RunRead,
    SettlementRead,
)
from gateway.staff.guards import require_role
from gateway.staff.models import Role

READ = {"scope": "settlement:read"}
FINANCE = {"staff": Provide(require_role(Role.FINANCE))}
FINANCE_READ = {"staff": Provide(require_role(Role.FINANCE, Role.AUDITOR))}


def settlement_read(s: Settlement) -> SettlementRead:
    return SettlementRead(
        id=s.id,
        partner_id=s.partner_id,
        scenario=s.scenario,
        business_date=s.business_date,
        seq=s.seq,
        count=s.count,
        gross=s.gross,
        refunds=s.refunds,
        fees=s.fees,
        fee_bps=s.fee_bps,
        subsidies=s.subsidies,
        escrow=s.escrow,
        held=s.held,
        net=s.net,
        carried_in=s.carried_in,
        payout=s.payout,
        payout_status=s.payout_status,
        payout_error=s.payout_error,
        paid_at=s.paid_at,
        created_at=s.created_at,
    )


def _run_read(run: SettlementRun) -> RunRead:
    return RunRead(
        id=run.id,
        business_date=run.business_date,
        status=run.status,
        settlements=run.settlements,
        created_at=run.created_at,
        finished_at=run.finished_at,
    )


def _contract_read(vault: PiiVault, c: PartnerContract) -> ContractRead:
    account = None
    if c.settlement_account_no is not None:
        number = vault.decrypt(c.settlement_account_no, context=contracts.ACCOUNT_CONTEXT)
        account = {
            "account_name": c.settlement_account_name or "",
            "account_no": mask_account(number),
        }
    return ContractRead(
        partner_id=c.partner_id,
        version=c.version,
        fee_bps=c.fee_bps,
        cycle_days=c.cycle_days,
        incentive_scheme=c.incentive_scheme,
        settlement_account=account,
        effective_from=c.effective_from,
        created_by=c.created_by,
        created_at=c.created_at,
    )


def _exception_read(e: ReconciliationException) -> ExceptionRead:
    return ExceptionRead(
        id=e.id,
        file_id=e.file_id,
        partner_id=e.partner_id,
        kind=e.kind,
        reference=e.reference,
        txn_id=e.txn_id,
        gateway_amount=e.gateway_amount,
        file_amount=e.file_amount,
        difference=e.difference,
        status=e.status,
        note=e.note,
        resolved_by=e.resolved_by,
        created_at=e.created_at,
    )


def reconciliation_read(f: ReconciliationFile) -> ReconciliationRead:
    return ReconciliationRead(
        id=f.id,
        business_date=f.business_date,
        lines=f.lines,
        matched=f.matched,
        bank_only=f.bank_only,
        partner_only=f.partner_only,
        amount_mismatch=f.amount_mismatch,
        created_at=f.created_at,
    )


# -- partners -------------------------------------------------------------------------------


@get("/settlements", tags=["settlement"], opt=READ, summary="The partner's settlements")
async def list_settlements(
    partner: CurrentPartner,
    db_session: DbSession,
    business_date: FromQuery[date | None] = None,
    limit: FromQuery[int] = DEFAULT_LIMIT,
    cursor: FromQuery[str | None] = None,
) -> Page[SettlementRead]:
    stmt = select(Settlement).where(col(Settlement.partner_id) == partner.id)
    if business_date is not None:
        stmt = stmt.where(col(Settlement.business_date) == business_date)
    rows, next_cursor = await paginate(
        db_session, stmt, col(Settlement.id), limit=limit, cursor=cursor
    )
    return Page(data=[settlement_read(s) for s in rows], next_cursor=next_cursor)


@get("/settlements/{settlement_id:str}", tags=["settlement"], opt=READ)
async def get_settlement(
    settlement_id: FromPath[str], partner: CurrentPartner, db_session: DbSession
) -> SettlementRead:
    return settlement_read(await owned(db_session, Settlement, settlement_id, partner.id))


@get(
    "/settlements/{settlement_id:str}/statement",
    tags=["settlement"],
    opt=READ,
    summary="Statement: one line per transaction, then a summary line (CSV, or ?format=xlsx)",
)
async def get_statement(
    settlement_id: FromPath[str],
    partner: CurrentPartner,
    db_session: DbSession,
    format: FromQuery[Literal["csv", "xlsx"]] = "csv",  # noqa: A002  (the public parameter name)
) -> Response[Any]:
    settlement = await owned(db_session, Settlement, settlement_id, partner.id)
    rows = await statements.statement_rows(db_session, settlement)
    name = f"statement-{settlement.business_date}-{settlement.scenario}-{settlement.seq}"
    if format == "xlsx":
        return Response(
            statements.as_xlsx(rows),
            media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            headers={"Content-Disposition": f'attachment; filename="{name}.xlsx"'},
        )
    return Response(
        statements.as_csv(rows),
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
    )


@post(
    "/reconciliation-files",
    tags=["settlement"],
    opt=READ,
    status_code=201,
    summary="Send a day's file (CSV: reference,amount,occurred_at) to be matched",
)
async def upload_reconciliation_file(
    request: Request[Any, Any, Any],
    partner: CurrentPartner,
    db_session: DbSession,
    business_date: FromQuery[date],
) -> ReconciliationRead:
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media not in {"text/csv", "application/csv"}:
        raise BusinessRuleViolation(
            "Send the file as text/csv.", code="unsupported_media_type", status=415
        )
    lines = reconciliation.parse_csv(await request.body())
    file = await reconciliation.reconcile(db_session, partner.id, "partner", business_date, lines)
    return reconciliation_read(file)


@get("/reconciliation-files/{file_id:str}", tags=["settlement"], opt=READ)
async def get_reconciliation_file(
    file_id: FromPath[str], partner: CurrentPartner, db_session: DbSession
) -> ReconciliationRead:
    return reconciliation_read(await owned(db_session, ReconciliationFile, file_id, partner.id))


PARTNER_ROUTES = [
    list_settlements,
    get_settlement,
    get_statement,
    upload_reconciliation_file,
    get_reconciliation_file,
]

# -- staff ----------------------------------------------------------------------------------


@put(
    "/admin/v1/partners/{partner_id:str}/contract",
    tags=["settlement"],
    summary="New contract version (fees, cycle, incentive scheme, settlement account)",
    dependencies={"staff": Provide(require_role(Role.OPS_CHECKER))},
)
async def put_contract(
    partner_id: FromPath[str],
    data: JSONBody[ContractUpdate],
    db_session: DbSession,
    staff: Staff,
    vault: Vault,
) -> ContractRead:
    contract = await contracts.change_contract(db_session, vault, partner_id, data, staff.actor)
    return _contract_read(vault, contract)


@get(
    "/admin/v1/partners/{partner_id:str}/contract",
    tags=["settlement"],
    summary="Every version of the partner's contract, newest first",
    dependencies={
        "staff": Provide(require_role(Role.OPS_MAKER, Role.OPS_CHECKER, Role.FINANCE, Role.AUDITOR))
    },
)
async def get_contract(
    partner_id: FromPath[str], db_session: DbSession, staff: Staff, vault: Vault
) -> list[ContractRead]:
    return [
        _contract_read(vault, c) for c in await contracts.contract_versions(db_session, partner_id)
    ]


@post(
    "/admin/v1/settlements/run",
    tags=["settlement"],
    status_code=202,
    summary="Settle everything not yet settled up to the end of a business date",
    dependencies=FINANCE,
)
async def run_settlement(
    data: JSONBody[RunCreate], db_session: DbSession, staff: Staff, settings: AppSettings
) -> RunRead:
    run, _ = await runs.start_run(
        db_session, data.business_date, staff.actor, production=settings.is_production
    )
    return _run_read(run)


@get("/admin/v1/settlements/runs/{run_id:str}", tags=["settlement"], dependencies=FINANCE_READ)
async def get_run(run_id: FromPath[str], db_session: DbSession, staff: Staff) -> RunRead:
    run = await db_session.get(SettlementRun, run_id)
    if run is None:
        raise NotFound("No such settlement run.")
    return _run_read(run)


@get("/admin/v1/settlements", tags=["settlement"], dependencies=FINANCE_READ)
async def admin_list_settlements(
    db_session: DbSession,
    staff: Staff,
    business_date: FromQuery[date | None] = None,
    partner_id: FromQuery[str | None] = None,
    payout_status: FromQuery[Literal["pending", "paid", "failed"] | None] = None,
    limit: FromQuery[int] = DEFAULT_LIMIT,
    cursor: FromQuery[str | None] = None,
) -> Page[SettlementRead]:
    stmt = select(Settlement)
    if business_date is not None:
        stmt = stmt.where(col(Settlement.business_date) == business_date)
    if partner_id is not None:
        stmt = stmt.where(col(Settlement.partner_id) == partner_id)
    if payout_status is not None:
        stmt = stmt.where(col(Settlement.payout_status) == payout_status)
    rows, next_cursor = await paginate(
        db_session, stmt, col(Settlement.id), limit=limit, cursor=cursor
    )
    return Page(data=[settlement_read(s) for s in rows], next_cursor=next_cursor)


@post(
    "/admin/v1/settlements/{settlement_id:str}/retry-payout",
    tags=["settlement"],
    status_code=202,
    dependencies=FINANCE,
)
async def retry_payout(
    settlement_id: FromPath[str], db_session: DbSession, staff: Staff
) -> SettlementRead:
    return settlement_read(await payouts.retry_payout(db_session, settlement_id, staff.actor))


@get("/admin/v1/reconciliation/exceptions", tags=["settlement"], dependencies=FINANCE_READ)
async def list_exceptions(
    db_session: DbSession,
    staff: Staff,
    status: FromQuery[Literal["open", "resolved"] | None] = "open",
    partner_id: FromQuery[str | None] = None,
    limit: FromQuery[int] = DEFAULT_LIMIT,
    cursor: FromQuery[str | None] = None,
) -> Page[ExceptionRead]:
    stmt = select(ReconciliationException)
    if status is not None:
        stmt = stmt.where(col(ReconciliationException.status) == status)
    if partner_id is not None:
        stmt = stmt.where(col(ReconciliationException.partner_id) == partner_id)
    rows, next_cursor = await paginate(
        db_session, stmt, col(ReconciliationException.id), limit=limit, cursor=cursor
    )
    return Page(data=[_exception_read(e) for e in rows], next_cursor=next_cursor)


@post(
    "/admin/v1/reconciliation/exceptions/{exception_id:str}/resolve",
    tags=["settlement"],
    dependencies=FINANCE,
)
async def resolve_exception(
    exception_id: FromPath[str], data: JSONBody[ResolveCreate], db_session: DbSession, staff: Staff
) -> ExceptionRead:
    if not data.note.strip():
        raise ValidationFailed(errors=[FieldError("note", "blank", "Say how it was resolved.")])
    return _exception_read(
        await reconciliation.resolve(db_session, exception_id, data.note, staff.actor)
    )


ADMIN_ROUTES = [
    put_contract,
    get_contract,
    run_settlement,
    get_run,
    admin_list_settlements,
    retry_payout,
    list_exceptions,
    resolve_exception,
]
