"""Settlement holds: transactions kept out of settlement while a risk case is open.

Settlement reads :func:`held_query` (a subquery of held transaction ids) or
:func:`held_transaction_ids` (the ``risk_holds`` table, ``status = 'held'``) and carries a held
transaction to a later settlement once it is ``released``.
"""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select
from sqlmodel.sql.expression import SelectOfScalar

from gateway.db import utcnow
from gateway.notifications import emit
from gateway.risk.models import HoldStatus, RiskHold


async def place(
    session: AsyncSession, *, txn_id: str, case_id: str, partner_id: str, amount: int
) -> RiskHold:
    """Hold a transaction under a case and tell the partner (``risk.hold_placed``)."""
    hold = RiskHold(txn_id=txn_id, case_id=case_id, partner_id=partner_id, amount=amount)
    session.add(hold)
    await session.flush()
    await emit(
        session,
        partner_id,
        "risk.hold_placed",
        {"transaction_id": txn_id, "case_id": case_id, "amount": amount, "currency": "CNY"},
    )
    return hold


def held_query() -> SelectOfScalar[str]:
    """The ids of held transactions, as a subquery settlement can filter with (``NOT IN``)."""
    return select(col(RiskHold.txn_id)).where(col(RiskHold.status) == HoldStatus.HELD.value)


async def held_transaction_ids(
    session: AsyncSession,
    txn_ids: Iterable[str] | None = None,
    *,
    partner_id: str | None = None,
) -> set[str]:
    """The transactions (of ``txn_ids``, or of a partner, or all) currently held."""
    stmt = held_query()
    if txn_ids is not None:
        stmt = stmt.where(col(RiskHold.txn_id).in_(list(txn_ids)))
    if partner_id is not None:
        stmt = stmt.where(col(RiskHold.partner_id) == partner_id)
    return set((await session.scalars(stmt)).all())


async def release(session: AsyncSession, case_id: str, actor: str) -> list[str]:
    """Release every hold of a case; returns the transactions released."""
    rows = await session.scalars(
        sa.update(RiskHold)
        .where(col(RiskHold.case_id) == case_id, col(RiskHold.status) == HoldStatus.HELD.value)
        .values(status=HoldStatus.RELEASED.value, released_at=utcnow(), released_by=actor)
        .returning(col(RiskHold.txn_id))
        .execution_options(synchronize_session=False)
    )
    return sorted(rows.all())


async def keep(session: AsyncSession, case_id: str) -> list[str]:
    """The case's holds, which stay held after it closes (confirmed fraud)."""
    rows = await session.scalars(
        select(col(RiskHold.txn_id)).where(
            col(RiskHold.case_id) == case_id, col(RiskHold.status) == HoldStatus.HELD.value
        )
    )
    return sorted(rows.all())
