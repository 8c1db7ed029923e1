"""The scheduled daily settlement run (DESIGN §10): ``settlement.daily`` runs at
``settings.settlement_daily_at`` Asia/Shanghai (01:00 by default) and settles the previous
business date exactly as ``POST /admin/v1/settlements/run`` would, then queues the next day.

The chain starts with a first job queued, due at once, when a partner's first contract is written
at approval or when any run is requested: its dedupe key makes it exist once whatever the number
of replicas, and it only schedules. It is queued there rather than at start-up because the job
needs the settings (the configured time), which the worker hands every job. A day whose job
gives up (dead-lettered) still queues the next day, so the chain never breaks.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession

from gateway.jobs.queue import enqueue
from gateway.jobs.schedule import ensure_daily
from gateway.settings import Settings

DAILY_JOB = "settlement.daily"
FIRST_KEY = f"{DAILY_JOB}:first"


async def start_schedule(session: AsyncSession) -> None:
    """Queue the job that schedules the first daily run (once, ever: a no-op afterwards)."""
    await enqueue(session, DAILY_JOB, {}, dedupe_key=FIRST_KEY)


async def schedule_next(
    session: AsyncSession, settings: Settings, after: date | None = None
) -> None:
    """Queue the next daily run (after the day ``after``, if given) unless it is queued."""
    await ensure_daily(session, DAILY_JOB, settings.settlement_daily_at, after=after)
