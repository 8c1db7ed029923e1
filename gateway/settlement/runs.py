"""Daily settlement runs (DESIGN §10).

A run settles, per partner and scenario, every transaction up to the end of its business date
that no settlement has taken yet. Each step is set-based: one UPDATE marks the transactions a
settlement takes (``settlement_id IS NULL`` in its WHERE, so a transaction can only ever be
taken once, whatever runs race), one aggregate reads the figures back, one journal books the
fees. What a transaction owes the partner comes from its own ledger journal (the
``partner_payable`` lines), so every scenario settles the same way: payments and releases are
owed, refunds are owed back, escrow top-ups and card loads are not owed at all.

Only one run is in progress at a time (``settlement_runs.active`` is unique); the whole run is
one database transaction, so a crash leaves nothing half-settled and the retried job simply
runs again; a run with nothing new writes no settlement.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from typing import Any, TypeVar

import sqlalchemy as sa
import structlog
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from gateway.clock import business_date_of
from gateway.db import utcnow
from gateway.errors import FieldError, ValidationFailed
from gateway.ids import new_id
from gateway.jobs.queue import enqueue
from gateway.jobs.registry import JobContext, job_handler
from gateway.risk.holds import held_query
from gateway.scenarios.models import Transaction, TxnStatus
from gateway.settlement.contracts import contract_in_force
from gateway.settlement.ledger.accounts import AccountType, account
from gateway.settlement.ledger.models import LedgerEntry, LedgerJournal
from gateway.settlement.ledger.service import post_journal
from gateway.settlement.models import (
    PayoutStatus,
    RunStatus,
    Settlement,
    SettlementHeldItem,
    SettlementRun,
)
from gateway.settlement.payouts import PAYOUT_JOB
from gateway.settlement.schedule import DAILY_JOB, schedule_next, start_schedule

RUN_JOB = "settlement.run"
SETTLED_STATUSES = (TxnStatus.SUCCEEDED.value, TxnStatus.REVERSED.value)
log = structlog.get_logger(__name__)
Progress = Callable[[int, int], None]
_S = TypeVar("_S", bound="sa.Select[*tuple[Any, ...]]")


def check_business_date(business_date: date, *, production: bool) -> None:
    """Past dates always; today only outside production (it settles what happened so far)."""
    today = business_date_of(utcnow())
    if business_date > today or (production and business_date == today):
        raise ValidationFailed(
            "That business date has not closed yet.",
            errors=[FieldError("business_date", "date_not_closed", "Settle a closed day.")],
        )


async def start_run(
    session: AsyncSession, business_date: date, actor: str, *, production: bool
) -> tuple[SettlementRun, bool]:
    """Create the run and its job, or return the run already in progress (``False``)."""
    check_business_date(business_date, production=production)
    run = SettlementRun(id=new_id("srn"), business_date=business_date, requested_by=actor)
    try:
        async with session.begin_nested():
            session.add(run)
    except IntegrityError:  # the savepoint's rollback has already let go of ``run``
        active = await session.scalar(
            select(SettlementRun).where(col(SettlementRun.active).is_(True))
        )
        if active is None:  # it finished between our insert and our read: ask again
            return await start_run(session, business_date, actor, production=production)
        return active, False
    await enqueue(session, RUN_JOB, {"run_id": run.id}, dedupe_key=f"{RUN_JOB}:{run.id}")
    await start_schedule(session)
    return run, True


@job_handler(RUN_JOB)
async def run_job(ctx: JobContext, payload: dict[str, str]) -> None:
    await execute_run(ctx.session, payload["run_id"])


def _day_of(payload: dict[str, str]) -> date | None:
    return date.fromisoformat(payload["date"]) if "date" in payload else None


async def _schedule_after_giving_up(ctx: JobContext, payload: dict[str, str]) -> None:
    await schedule_next(ctx.session, ctx.settings, after=_day_of(payload))


@job_handler(DAILY_JOB, on_dead=_schedule_after_giving_up)
async def daily_job(ctx: JobContext, payload: dict[str, str]) -> None:
    """The scheduled run for the day before ``date`` (absent on the first job, which only
    schedules), with the semantics of a requested one: a run already in progress is left to
    finish (it settles everything up to its own date; the next day's run takes the rest)."""
    day = _day_of(payload)
    if day is not None:
        await start_run(
            ctx.session, day - timedelta(days=1), "scheduler", production=ctx.settings.is_production
        )
    await schedule_next(ctx.session, ctx.settings, after=day)


async def execute_run(
    session: AsyncSession, run_id: str, progress: Progress | None = None
) -> SettlementRun | None:
    """Settle everything the run covers, in the caller's transaction; ``None`` if another
    process finished the run first. The first statement takes the run's row lock."""
    claimed = await session.scalar(
        sa.update(SettlementRun)
        .where(col(SettlementRun.id) == run_id, col(SettlementRun.status) == RunStatus.RUNNING)
        .values(heartbeat_at=utcnow())
        .returning(col(SettlementRun.business_date))
        .execution_options(synchronize_session=False)
    )
    if claimed is None:
        return None
    groups = (
        await session.execute(
            select(col(Transaction.partner_id), col(Transaction.scenario))
            .where(_unsettled(claimed))
            .distinct()
            .order_by(col(Transaction.partner_id), col(Transaction.scenario))
        )
    ).all()
    made = 0
    for n, (partner_id, scenario) in enumerate(groups, start=1):
        if await settle_group(session, run_id, claimed, partner_id, scenario) is not None:
            made += 1
        if progress is not None:
            progress(n, len(groups))
    await session.execute(
        sa.update(SettlementRun)
        .where(col(SettlementRun.id) == run_id)
        .values(status=RunStatus.COMPLETED, active=None, settlements=made, finished_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    log.info("settlement.run_completed", run_id=run_id, business_date=str(claimed), made=made)
    return await session.get(SettlementRun, run_id, populate_existing=True)


def _unsettled(through: date) -> sa.ColumnElement[bool]:
    return sa.and_(
        col(Transaction.settlement_id).is_(None),
        col(Transaction.business_date) <= through,
        col(Transaction.status).in_(SETTLED_STATUSES),
    )


async def settle_group(
    session: AsyncSession, run_id: str, business_date: date, partner_id: str, scenario: str
) -> Settlement | None:
    """One partner's settlement for one scenario, or ``None`` when nothing new is due."""
    contract = await contract_in_force(session, partner_id, business_date)
    # T+N: a partner on a longer cycle settles the days that are N−1 days further back.
    through = business_date - timedelta(days=contract.cycle_days - 1)
    held = held_query()  # under an open risk case, or confirmed fraud: never paid out
    due = sa.and_(
        _unsettled(through),
        col(Transaction.partner_id) == partner_id,
        col(Transaction.scenario) == scenario,
    )
    settlement_id = new_id("stl")
    marked = await session.execute(
        sa.update(Transaction)
        .where(due, col(Transaction.id).not_in(held))
        .values(settlement_id=settlement_id)
        .execution_options(synchronize_session=False)
    )
    if marked.rowcount == 0:  # type: ignore[attr-defined]
        return None
    bps = contract.fee_bps.get(scenario, 0)
    figures = (await session.execute(_figures(settlement_id, bps))).one()
    held_rows = (
        await session.execute(
            select(col(Transaction.id), col(Transaction.amount)).where(
                due, col(Transaction.id).in_(held)
            )
        )
    ).all()
    seq = await session.scalar(
        select(sa.func.coalesce(sa.func.max(Settlement.seq), 0) + 1).where(
            col(Settlement.partner_id) == partner_id,
            col(Settlement.scenario) == scenario,
            col(Settlement.business_date) == business_date,
        )
    )
    count, gross, refunds, fees, subsidies, escrow = (int(v or 0) for v in figures)
    net = gross - refunds - fees
    carried_in = await _carried_in(session, partner_id, scenario)
    payout = max(net + carried_in, 0)
    settlement = Settlement(
        id=settlement_id,
        run_id=run_id,
        partner_id=partner_id,
        scenario=scenario,
        business_date=business_date,
        seq=int(seq or 1),
        contract_version=contract.version,
        fee_bps=bps,
        count=count,
        gross=gross,
        refunds=refunds,
        fees=fees,
        subsidies=subsidies,
        escrow=escrow,
        held=sum(int(a) for _, a in held_rows),
        net=net,
        carried_in=carried_in,
        payout=payout,
        payout_status=PayoutStatus.PENDING if payout else PayoutStatus.PAID,
    )
    session.add(settlement)
    await session.flush()
    if held_rows:
        await session.execute(
            sa.insert(SettlementHeldItem),
            [{"settlement_id": settlement_id, "txn_id": t, "amount": a} for t, a in held_rows],
        )
    if fees:
        await post_journal(
            session,
            reference=f"stl:{settlement_id}:fees",
            kind="settlement.fees",
            lines=[
                (account(AccountType.PARTNER_PAYABLE, partner_id, scenario), fees),
                (account(AccountType.FEE_INCOME), -fees),
            ],
            business_date=business_date,
            partner_id=partner_id,
            scenario=scenario,
        )
    if payout:
        await enqueue(
            session,
            PAYOUT_JOB,
            {"settlement_id": settlement_id},
            dedupe_key=f"payout:{settlement_id}:0",
        )
    log.info(
        "settlement.made", settlement_id=settlement_id, partner_id=partner_id, net=net, count=count
    )
    return settlement


def owed(settlement_id: str) -> tuple[sa.ColumnElement[int], sa.ColumnElement[int]]:
    """What each transaction of a settlement made the partner owed (``payable``) and put into
    escrow (``escrow``), read from its own ledger journal: aggregates to use in a query over
    :func:`with_journals` grouped by the transaction."""
    amount = col(LedgerEntry.amount)
    acct = col(LedgerEntry.account)

    def total(kind: AccountType) -> sa.ColumnElement[int]:
        line = sa.case((acct.like(f"{kind.value}:%"), -amount), else_=0)
        # PostgreSQL sums bigints as numeric, whose division keeps fractions: cast back, so the
        # fee's integer division truncates on both engines.
        return sa.cast(sa.func.coalesce(sa.func.sum(line), 0), sa.BigInteger)

    return total(AccountType.PARTNER_PAYABLE), total(AccountType.MERCHANT_ESCROW)


def with_journals(stmt: _S, settlement_id: str) -> _S:
    """``stmt`` over a settlement's transactions joined to their journal lines, one group per
    transaction (a single pass: no subquery for the planner to re-run per row)."""
    return (
        stmt.select_from(Transaction)
        .outerjoin(LedgerJournal, col(LedgerJournal.txn_id) == col(Transaction.id))
        .outerjoin(LedgerEntry, col(LedgerEntry.journal_id) == col(LedgerJournal.id))
        .where(col(Transaction.settlement_id) == settlement_id)
        .group_by(col(Transaction.id))
    )


def fee_of(payable: sa.ColumnElement[int], bps: int) -> sa.ColumnElement[int]:
    """The fee on one transaction: ``bps`` of what it made owed, half-up away from zero, in
    integer SQL (``//`` renders integer division on both engines)."""
    return sa.case(
        (payable > 0, (payable * bps + 5000) // 10000),
        (payable < 0, -((-payable * bps + 5000) // 10000)),
        else_=0,
    )


def _figures(settlement_id: str, bps: int) -> sa.Select[*tuple[Any, ...]]:
    payable, escrow = owed(settlement_id)
    per_txn = with_journals(
        sa.select(
            col(Transaction.kind).label("kind"),
            col(Transaction.subsidy).label("subsidy"),
            payable.label("payable"),
            escrow.label("escrow"),
        ),
        settlement_id,
    ).subquery()
    p = per_txn.c.payable
    return sa.select(
        sa.func.count(),
        sa.func.sum(sa.case((p > 0, p), else_=0)),
        sa.func.sum(sa.case((p < 0, -p), else_=0)),
        sa.func.sum(fee_of(p, bps)),
        sa.func.sum(
            sa.case((per_txn.c.kind == "refund", -per_txn.c.subsidy), else_=per_txn.c.subsidy)
        ),
        sa.func.sum(per_txn.c.escrow),
    )


async def _carried_in(session: AsyncSession, partner_id: str, scenario: str) -> int:
    """What the partner's previous settlement of the scenario left uncollected (≤ 0)."""
    last = await session.scalar(
        select(Settlement)
        .where(col(Settlement.partner_id) == partner_id, col(Settlement.scenario) == scenario)
        .order_by(col(Settlement.id).desc())
        .limit(1)
    )
    if last is None:
        return 0
    return min(last.net + last.carried_in - last.payout, 0)
