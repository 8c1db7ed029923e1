"""``gateway accounts import``: an ops-assisted batch upload, opened with a progress bar."""

from __future__ import annotations

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from gateway.customers import uploads
from gateway.customers.batches import create_batch
from gateway.customers.models import AccountBatch
from gateway.customers.service import Channel
from gateway.db import create_engine, session_factory
from gateway.handlers import register_all
from gateway.jobs.worker import Worker
from gateway.partners.service import get_partner
from gateway.pii import PiiVault
from gateway.services import open_services
from gateway.settings import Settings


async def import_file(
    settings: Settings,
    file_name: str,
    raw: bytes,
    partner_id: str,
    scenario: str,
    sub_channel: str | None,
    campaign: str | None,
    *,
    wait: bool,
) -> str:
    rows = uploads.read_xlsx(raw) if file_name.lower().endswith(".xlsx") else uploads.read_csv(raw)
    engine = create_engine(settings)
    sessions = session_factory(engine)
    vault = PiiVault(settings.pii_key_bytes)
    try:
        async with sessions() as session:
            partner = await get_partner(session, partner_id)
            batch = await create_batch(
                session, vault, partner, Channel(partner.id, scenario, sub_channel, campaign), rows
            )
            await session.commit()
        if not wait:
            return f"batch {batch.id} queued: {batch.total} rows, {batch.rejected} rejected"
        register_all()
        async with open_services(settings, sessions, vault) as services:
            done = await _follow(Worker(sessions, settings, services), batch.id, batch.total)
        return (
            f"batch {done.id} {done.status}: {done.opened} opened, {done.existing} existing, "
            f"{done.rejected} rejected"
        )
    finally:
        await engine.dispose()


async def _follow(worker: Worker, batch_id: str, total: int) -> AccountBatch:
    columns = (TextColumn("opening"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns) as progress:
        task = progress.add_task("rows", total=total)
        while True:
            await worker.run_once()
            async with worker.sessions() as session:
                batch = await session.get(AccountBatch, batch_id)
            if batch is None:
                raise RuntimeError(f"batch {batch_id} disappeared")
            progress.update(task, completed=batch.processed)
            if batch.completed_at is not None:
                return batch
