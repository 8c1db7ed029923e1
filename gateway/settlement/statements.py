"""A settlement's statement (DESIGN §10): one line per transaction it took, then the held
ones, then a summary line; CSV or XLSX. Fees are recomputed per line with the settlement's own
rate and the same half-up rule as the run, so the lines always add up to the settlement."""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from openpyxl import Workbook
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from gateway.csvsafe import render_csv, safe_cell
from gateway.money import basis_points
from gateway.scenarios.models import Transaction
from gateway.settlement.models import Settlement, SettlementHeldItem
from gateway.settlement.runs import owed, with_journals

COLUMNS = (
    "txn_id",
    "external_ref",
    "occurred_at",
    "scenario",
    "type",
    "amount",
    "fee",
    "subsidy",
    "held",
    "net",
)


def line_fee(payable: int, bps: int) -> int:
    """The run's per-transaction fee (``runs.fee_of``), in Python."""
    fee = basis_points(abs(payable), bps)
    return fee if payable >= 0 else -fee


async def statement_rows(session: AsyncSession, settlement: Settlement) -> list[Sequence[Any]]:
    owed_expr, _ = owed(settlement.id)
    settled = (
        await session.execute(
            with_journals(sa.select(Transaction, owed_expr), settlement.id).order_by(
                col(Transaction.occurred_at), col(Transaction.id)
            )
        )
    ).all()
    rows: list[Sequence[Any]] = []
    for txn, payable in settled:
        due = int(payable or 0)
        fee = line_fee(due, settlement.fee_bps)
        sign = -1 if txn.kind == "refund" else 1
        rows.append(
            (
                txn.id,
                txn.external_ref or "",
                txn.occurred_at.isoformat(),
                txn.scenario,
                txn.kind,
                sign * txn.amount,
                fee,
                sign * txn.subsidy,
                0,
                due - fee,
            )
        )
    held = (
        await session.execute(
            select(Transaction, col(SettlementHeldItem.amount))
            .join(SettlementHeldItem, col(SettlementHeldItem.txn_id) == col(Transaction.id))
            .where(col(SettlementHeldItem.settlement_id) == settlement.id)
            .order_by(col(Transaction.id))
        )
    ).all()
    for txn, amount in held:
        rows.append(
            (
                txn.id,
                txn.external_ref or "",
                txn.occurred_at.isoformat(),
                txn.scenario,
                txn.kind,
                txn.amount,
                0,
                txn.subsidy,
                amount,
                0,
            )
        )
    rows.append(
        (
            "summary",
            settlement.id,
            settlement.business_date.isoformat(),
            settlement.scenario,
            "total",
            settlement.gross - settlement.refunds,
            settlement.fees,
            settlement.subsidies,
            settlement.held,
            settlement.net,
        )
    )
    return rows


def as_csv(rows: Sequence[Sequence[Any]]) -> str:
    return render_csv(COLUMNS, rows)


def as_xlsx(rows: Sequence[Sequence[Any]]) -> bytes:
    book = Workbook(write_only=True)
    sheet = book.create_sheet("statement")
    sheet.append(list(COLUMNS))
    for row in rows:
        sheet.append([v if isinstance(v, int) else safe_cell(v) for v in row])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
