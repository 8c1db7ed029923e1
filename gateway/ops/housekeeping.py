"""Daily housekeeping: delete rows that have outlived their purpose, so tables stay their size.

Every signed call leaves a ``used_nonces`` row and every partner POST an ``idempotency_keys``
row; every job leaves its ``jobs`` row. The front door only needs the nonces it could still be
replayed with (10 minutes), idempotency keys are kept 24 hours (DESIGN §4), and succeeded jobs
are of interest for ``GATEWAY_JOB_RETENTION_DAYS``. Dead-lettered jobs stay until an operator
requeues or removes them. ``ops.housekeeping`` runs at ``GATEWAY_HOUSEKEEPING_AT`` Asia/Shanghai
(03:30 by default), deletes in chunks, each committed on its own so no lock is held for long,
and queues the next day. Each worker queues the chain when it starts (once, whatever the number
of workers: the first day's dedupe key).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from gateway.auth.models import UsedNonce
from gateway.db import utcnow
from gateway.idempotency.models import IdempotencyRecord
from gateway.jobs.models import Job, JobStatus
from gateway.jobs.registry import JobContext, job_handler
from gateway.jobs.schedule import ensure_daily
from gateway.settings import Settings

HOUSEKEEPING_JOB = "ops.housekeeping"
CHUNK = 5_000

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Purged:
    nonces: int
    idempotency_keys: int
    jobs: int


async def start_schedule(sessions: async_sessionmaker[AsyncSession], settings: Settings) -> None:
    """Queue the next run unless it is queued already."""
    async with sessions.begin() as session:
        await ensure_daily(session, HOUSEKEEPING_JOB, settings.housekeeping_at)


async def purge(session: AsyncSession, settings: Settings) -> Purged:
    """Delete expired nonces and idempotency keys and old succeeded jobs; commits per chunk."""
    now = utcnow()
    nonce = (col(UsedNonce.scope), col(UsedNonce.nonce))
    return Purged(
        nonces=await _in_chunks(
            session,
            UsedNonce,
            sa.tuple_(*nonce),
            sa.select(*nonce).where(col(UsedNonce.expires_at) <= now),
        ),
        idempotency_keys=await _in_chunks(
            session,
            IdempotencyRecord,
            col(IdempotencyRecord.id),
            sa.select(col(IdempotencyRecord.id)).where(col(IdempotencyRecord.expires_at) <= now),
        ),
        jobs=await _in_chunks(
            session,
            Job,
            col(Job.id),
            sa.select(col(Job.id)).where(
                col(Job.status) == JobStatus.SUCCEEDED.value,
                col(Job.finished_at) <= now - timedelta(days=settings.job_retention_days),
            ),
        ),
    )


async def _in_chunks(
    session: AsyncSession, model: type[Any], key: Any, doomed: sa.Select[*tuple[Any, ...]]
) -> int:
    """Delete the rows of ``model`` whose ``key`` ``doomed`` selects, :data:`CHUNK` at a time."""
    total = 0
    while True:
        result = await session.execute(sa.delete(model).where(key.in_(doomed.limit(CHUNK))))
        await session.commit()
        total += int(result.rowcount)  # type: ignore[attr-defined]
        if result.rowcount < CHUNK:  # type: ignore[attr-defined]
            return total


@job_handler(HOUSEKEEPING_JOB)
async def housekeeping_job(ctx: JobContext, payload: dict[str, Any]) -> None:
    purged = await purge(ctx.session, ctx.settings)
    log.info(
        "ops.housekeeping",
        nonces=purged.nonces,
        idempotency_keys=purged.idempotency_keys,
        jobs=purged.jobs,
    )
    await ensure_daily(ctx.session, HOUSEKEEPING_JOB, ctx.settings.housekeeping_at)
