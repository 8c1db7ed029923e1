"""``gateway settle --date``: run settlement for a business date with progress, then pay out."""

from __future__ import annotations

from datetime import date

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlmodel import col, select

from gateway.db import create_engine, session_factory
from gateway.handlers import register_all
from gateway.jobs.worker import Worker
from gateway.pii import PiiVault
from gateway.services import open_services
from gateway.settings import Settings
from gateway.settlement.models import Settlement
from gateway.settlement.runs import execute_run, start_run


async def settle(settings: Settings, business_date: date) -> str:
    engine = create_engine(settings)
    sessions = session_factory(engine)
    vault = PiiVault(settings.pii_key_bytes)
    try:
        async with sessions() as session:
            run, created = await start_run(
                session, business_date, "cli", production=settings.is_production
            )
            await session.commit()
        if not created:
            return f"run {run.id} for {run.business_date} is already in progress"
        columns = (TextColumn("settling"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(*columns) as progress:
            task = progress.add_task("groups", total=None)

            def advance(done: int, total: int) -> None:
                progress.update(task, completed=done, total=total)

            async with sessions() as session:
                await execute_run(session, run.id, advance)
                await session.commit()
        register_all()
        async with open_services(settings, sessions, vault) as services:
            await Worker(sessions, settings, services).run_until_idle()
        async with sessions() as session:
            made = (
                await session.scalars(select(Settlement).where(col(Settlement.run_id) == run.id))
            ).all()
        paid = sum(1 for s in made if s.payout_status == "paid")
        failed = sum(1 for s in made if s.payout_status == "failed")
        total = sum(s.payout for s in made)
        return (
            f"run {run.id}: {len(made)} settlements for {business_date}, {paid} paid, "
            f"{failed} failed, {len(made) - paid - failed} pending; payouts {total} fen"
        )
    finally:
        await engine.dispose()
