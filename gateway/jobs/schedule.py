"""Daily jobs at a wall-clock time in Asia/Shanghai, the business time zone (DESIGN §3).

A daily job queues its own next run when it has done its work: :func:`ensure_daily` enqueues
``kind`` for the next occurrence of ``at`` with the dedupe key ``<kind>:<local date>``, so
however many processes (replicas, retries, a first-event trigger racing the job itself) ask for
the same day, the queue holds that day's run once.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from gateway.clock import SHANGHAI
from gateway.db import utcnow
from gateway.jobs.queue import enqueue


def next_daily_run(now: datetime, at: time) -> tuple[date, datetime]:
    """The first ``at`` Asia/Shanghai strictly after ``now``: its local date and UTC moment."""
    local = now.astimezone(SHANGHAI)
    run = datetime.combine(local.date(), at, tzinfo=SHANGHAI)
    if run <= local:
        run += timedelta(days=1)  # Asia/Shanghai keeps no daylight saving: a day is 24 hours
    return run.date(), run.astimezone(UTC)


async def ensure_daily(
    session: AsyncSession,
    kind: str,
    at: time,
    payload: dict[str, Any] | None = None,
    *,
    after: date | None = None,
) -> date:
    """Queue ``kind`` for the next ``at`` unless that day's run is queued already; the job's
    payload carries the local ``date`` of the run. Returns that date.

    ``after`` is the date of the job asking: its successor is the next day at the least, even
    if the job ran before its time (brought forward by hand), so the chain never stalls on a
    day that has already run."""
    now = utcnow()
    if after is not None:
        now = max(now, datetime.combine(after, at, tzinfo=SHANGHAI))
    day, run_at = next_daily_run(now, at)
    await enqueue(
        session,
        kind,
        {**(payload or {}), "date": day.isoformat()},
        run_at=run_at,
        dedupe_key=f"{kind}:{day.isoformat()}",
    )
    return day
