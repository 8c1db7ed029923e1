"""The demo month's back office: each day settled the next morning and paid out, and the last
day's partner file reconciled with a few differences for finance to work."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from sqlmodel import col, select

from gateway.clock import travelled_to
from gateway.demo.world import World, at
from gateway.scenarios.models import Transaction
from gateway.settlement import reconciliation
from gateway.settlement.reconciliation import FileLine
from gateway.settlement.runs import execute_run, start_run


async def settle_each_day(world: World) -> None:
    made = 0
    for day in world.month:
        for happening in world.on_day.pop(day, []):
            await happening()
        with travelled_to(at(day + timedelta(days=1), 1)):
            async with world.unit() as session:
                run, created = await start_run(session, day, "demo", production=False)
            if not created:
                continue
            async with world.unit() as session:
                done = await execute_run(session, run.id)
                made += done.settlements if done else 0
            await world.run_jobs()
    world.note(f"settlement: {made} settlements over {len(world.month)} days, paid out")


async def reconcile_busiest_day(world: World) -> None:
    """The partner's file for its busiest day: one payment missing, one amount off, one line
    the gateway never saw."""
    for partner in world.partners.values():
        async with world.sessions() as session:
            day = await session.scalar(
                select(col(Transaction.business_date))
                .where(col(Transaction.partner_id) == partner.id)
                .group_by(col(Transaction.business_date))
                .order_by(sa.func.count().desc(), col(Transaction.business_date).desc())
                .limit(1)
            )
            if day is None:
                continue
            txns = list(
                await session.scalars(
                    select(Transaction)
                    .where(
                        col(Transaction.partner_id) == partner.id,
                        col(Transaction.business_date) == day,
                    )
                    .order_by(col(Transaction.id))
                )
            )
        lines = [
            FileLine(t.id, -t.amount if t.kind == "refund" else t.amount, t.occurred_at)
            for t in txns[1:] or txns
        ]
        lines[0] = FileLine(lines[0].reference, lines[0].amount + 100, lines[0].occurred_at)
        lines.append(FileLine(f"PARTNER-{world.seed}-{day:%Y%m%d}", 88_00, at(day, 15)))
        with travelled_to(at(day + timedelta(days=1), 8)):
            async with world.unit() as session:
                file = await reconciliation.reconcile(session, partner.id, "partner", day, lines)
        world.note(
            f"reconciliation {partner.legal_name} {day}: {file.matched} matched, "
            f"{file.bank_only + file.partner_only + file.amount_mismatch} exceptions"
        )
