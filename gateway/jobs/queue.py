from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from gateway.db import insert_once, table_of, utcnow
from gateway.ids import new_id
from gateway.jobs.models import Job, JobStatus

JOBS = table_of(Job)
_INSERT = sa.insert(JOBS)


def job_row(
    kind: str,
    payload: dict[str, Any],
    *,
    run_at: datetime | None = None,
    dedupe_key: str | None = None,
    max_attempts: int = 8,
) -> dict[str, Any]:
    """A queued job's column values: what :func:`enqueue` inserts, or what a caller writes in
    one statement with the rows that caused it (:func:`gateway.db.insert_rows`)."""
    return {
        "id": new_id("job"),
        "kind": kind,
        "payload": payload,
        "status": JobStatus.QUEUED.value,
        "dedupe_key": dedupe_key,
        "attempts": 0,
        "max_attempts": max_attempts,
        "run_at": run_at or utcnow(),
        "created_at": utcnow(),
    }


async def enqueue(
    session: AsyncSession,
    kind: str,
    payload: dict[str, Any],
    *,
    run_at: datetime | None = None,
    dedupe_key: str | None = None,
    max_attempts: int = 8,
) -> str:
    """Add a job to the caller's transaction; with ``dedupe_key`` a second enqueue is a no-op."""
    values = job_row(kind, payload, run_at=run_at, dedupe_key=dedupe_key, max_attempts=max_attempts)
    stmt = _INSERT
    if dedupe_key is not None:
        stmt = insert_once(session.get_bind().dialect.name, JOBS, "dedupe_key")
    await session.execute(stmt, values)
    return str(values["id"])


async def requeue_dead(session: AsyncSession, job_id: str) -> bool:
    """Put a dead-lettered job back in the queue (ops redelivery)."""
    result = await session.execute(
        sa.update(Job)
        .where(col(Job.id) == job_id, col(Job.status) == JobStatus.DEAD.value)
        .values(status=JobStatus.QUEUED.value, attempts=0, run_at=utcnow(), last_error=None)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]
