"""How milestones learn of openings and transactions without any scenario calling channels.

Two mapper events, registered when this module is imported (``gateway.handlers`` imports it in
every process that writes or works jobs):

- a ``Touchpoint`` of kind ``opened`` is turned into its milestone row in the same flush;
- a ``Transaction`` inserted (or updated to a new status) through the ORM enqueues
  ``channels.apply_transaction`` for it in the same flush — the transactional outbox, so the job
  exists exactly when the transaction committed. Its dedupe key is the transaction and status,
  so a pending payment that later succeeds is applied once it has succeeded.

``channels.daily`` (02:00 Asia/Shanghai, queued by the first applied transaction and then by
itself) recomputes value tiers and sends the 14-day-inactive and dormant moments of truth.
``channels.sweep`` applies succeeded transactions written without the ORM (bulk loads) that no
job announced; it is safe at any time because applying is idempotent.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapper

from gateway.channels.lifecycle import service
from gateway.channels.lists import service as lists
from gateway.customers.models import Touchpoint
from gateway.db import insert_once, table_of, utcnow
from gateway.ids import new_id
from gateway.jobs import JobContext, job_handler
from gateway.jobs.models import Job, JobStatus
from gateway.jobs.schedule import ensure_daily as ensure_daily_job
from gateway.jobs.schedule import next_daily_run as next_run_at
from gateway.scenarios.models import Transaction

APPLY_JOB = "channels.apply_transaction"
SWEEP_JOB = "channels.sweep"
SWEEP_LOOKBACK = timedelta(days=2)
DAILY_JOB = "channels.daily"
DAILY_AT = time(2)  # local time: after the day closed, before the partners' staff start
_jobs = table_of(Job)


def enqueue_in_flush(
    connection: sa.Connection, kind: str, payload: dict[str, Any], key: str
) -> None:
    """:func:`gateway.jobs.enqueue` for a flush event, which only has the sync connection."""
    now = utcnow()
    connection.execute(
        insert_once(connection.dialect.name, _jobs, "dedupe_key"),
        {
            "id": new_id("job"),
            "kind": kind,
            "payload": payload,
            "status": JobStatus.QUEUED.value,
            "dedupe_key": key,
            "attempts": 0,
            "max_attempts": 8,
            "run_at": now,
            "created_at": now,
        },
    )


def _announce(connection: sa.Connection, txn: Transaction) -> None:
    if txn.customer_id is None:
        return
    enqueue_in_flush(
        connection,
        APPLY_JOB,
        {"transaction_id": txn.id},
        f"{APPLY_JOB}:{txn.id}:{txn.status}",
    )


@event.listens_for(Touchpoint, "after_insert")
def _touchpoint_inserted(_mapper: Mapper[Any], connection: sa.Connection, target: Any) -> None:
    if target.kind == "opened":
        service.record_opening(connection, target)


@event.listens_for(Transaction, "after_insert")
def _transaction_inserted(_mapper: Mapper[Any], connection: sa.Connection, target: Any) -> None:
    _announce(connection, target)


@event.listens_for(Transaction, "after_update")
def _transaction_updated(_mapper: Mapper[Any], connection: sa.Connection, target: Any) -> None:
    history = sa.inspect(target).attrs.status.history
    if history.has_changes():
        _announce(connection, target)


def next_daily_run(now: datetime) -> tuple[str, datetime]:
    """The next 02:00 Asia/Shanghai after ``now`` and its business date (the dedupe key)."""
    day, at = next_run_at(now, DAILY_AT)
    return day.isoformat(), at


async def ensure_daily(session: AsyncSession) -> None:
    """Make sure the next daily pass is queued (a no-op when it already is)."""
    await ensure_daily_job(session, DAILY_JOB, DAILY_AT)


@job_handler(APPLY_JOB)
async def apply_transaction_job(ctx: JobContext, payload: dict[str, Any]) -> None:
    await service.apply_transaction(ctx.session, payload["transaction_id"])
    await ensure_daily(ctx.session)


@job_handler(DAILY_JOB)
async def daily_job(ctx: JobContext, payload: dict[str, Any]) -> None:
    """Value tiers, then moments of truth, then the next day's pass (self-scheduling)."""
    await lists.recompute_value_tiers(ctx.session)
    while await lists.daily_moments(ctx.session) >= lists.MOMENTS_PER_PASS:
        pass
    await ensure_daily(ctx.session)


@job_handler(SWEEP_JOB)
async def sweep_job(ctx: JobContext, payload: dict[str, Any]) -> None:
    since = utcnow() - SWEEP_LOOKBACK
    for transaction_id in await service.unapplied_transactions(ctx.session, since):
        await service.apply_transaction(ctx.session, transaction_id)
