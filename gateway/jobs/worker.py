"""The job worker: claim under a lease, run, and commit the effects with the completion.

Claiming is ``UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP LOCKED)`` on PostgreSQL and a
conditional ``UPDATE … WHERE status = 'queued'`` per candidate on SQLite (whose single writer lock
makes it atomic), so any number of worker processes can share one database. The pair
``(locked_by, attempts)`` fences a run: if a worker outlives its lease and another took the job
over, the late worker's completion matches no row and its effects are rolled back.

A live worker extends the leases of the jobs it holds every third of a lease, so a job longer
than one lease (a settlement run over a million transactions) is never taken over while it is
still running: without it, two workers took such a run from each other until it dead-lettered,
each completion fenced out by the other's claim. A killed worker stops extending, and its jobs
are claimed again once their lease runs out.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col, select

from gateway.db import utcnow
from gateway.ids import new_id
from gateway.jobs.models import Job, JobStatus
from gateway.jobs.registry import JobContext, PermanentJobError, handler_for
from gateway.logging import mask_text
from gateway.ops import housekeeping
from gateway.settings import Settings

log = structlog.get_logger(__name__)
_jobs = sa.table(
    "jobs",
    sa.column("id"),
    sa.column("kind"),
    sa.column("payload", sa.JSON),
    sa.column("status"),
    sa.column("attempts"),
    sa.column("max_attempts"),
    sa.column("run_at"),
    sa.column("lease_until"),
    sa.column("locked_by"),
    sa.column("last_error"),
    sa.column("finished_at"),
)


class Worker:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        settings: Settings,
        services: dict[str, Any] | None = None,
        *,
        batch_size: int = 10,
    ) -> None:
        self.sessions = sessions
        self.settings = settings
        self.services = services or {}
        self.batch_size = batch_size
        self.name = f"{socket.gethostname()}:{os.getpid()}:{new_id('job')[-8:]}"

    def _due(self, now: Any) -> sa.ColumnElement[bool]:
        return sa.or_(
            sa.and_(col(Job.status) == JobStatus.QUEUED.value, col(Job.run_at) <= now),
            sa.and_(col(Job.status) == JobStatus.RUNNING.value, col(Job.lease_until) < now),
        )

    async def claim(self) -> list[Job]:
        now = utcnow()
        lease = now + timedelta(seconds=self.settings.job_lease_seconds)
        claim_values = {
            "status": JobStatus.RUNNING.value,
            "attempts": col(Job.attempts) + 1,
            "lease_until": lease,
            "locked_by": self.name,
        }
        async with self.sessions() as session:
            if session.get_bind().dialect.name == "postgresql":
                ids = (
                    select(Job.id)
                    .where(self._due(now))
                    .order_by(col(Job.run_at))
                    .limit(self.batch_size)
                    .with_for_update(skip_locked=True)
                    .scalar_subquery()
                )
                result = await session.execute(
                    sa.update(Job).where(col(Job.id).in_(ids)).values(**claim_values).returning(Job)
                )
                claimed = list(result.scalars().all())
            else:
                candidates = (
                    await session.scalars(
                        select(Job.id)
                        .where(self._due(now))
                        .order_by(col(Job.run_at))
                        .limit(self.batch_size)
                    )
                ).all()
                claimed = []
                for job_id in candidates:
                    result = await session.execute(
                        sa.update(Job)
                        .where(col(Job.id) == job_id, self._due(now))
                        .values(**claim_values)
                        .returning(Job)
                    )
                    claimed.extend(result.scalars().all())
            await session.commit()
        return claimed

    async def run_once(self) -> int:
        """Claim due jobs and run them in due order (PostgreSQL's ``UPDATE … RETURNING`` hands
        them back in no particular order); returns how many were claimed."""
        jobs = await self.claim()
        if not jobs:
            return 0
        stop = asyncio.Event()
        keeper = asyncio.create_task(self._keep_leases(stop))
        try:
            for job in sorted(jobs, key=lambda j: (j.run_at, j.id)):
                await self._run(job)
        finally:
            stop.set()
            await keeper
        return len(jobs)

    async def _keep_leases(self, stop: asyncio.Event) -> None:
        """Until ``stop``, extend the lease of every job this worker holds: the one running and
        those claimed with it that wait their turn. A failed extension is only logged (the next
        one may succeed; at worst the job is taken over and this run fenced out)."""
        every = self.settings.job_lease_seconds / 3
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=every)
            if stop.is_set():
                return
            try:
                async with self.sessions() as session:
                    await session.execute(
                        sa.update(_jobs)
                        .where(
                            _jobs.c.locked_by == self.name,
                            _jobs.c.status == JobStatus.RUNNING.value,
                        )
                        .values(
                            lease_until=utcnow()
                            + timedelta(seconds=self.settings.job_lease_seconds)
                        )
                    )
                    await session.commit()
            except Exception:
                log.warning("worker.lease_extension_failed", worker=self.name, exc_info=True)

    async def run_until_idle(self, max_rounds: int = 1000) -> None:
        """Run until no job is due (tests and one-off commands)."""
        for _ in range(max_rounds):
            if not await self.run_once():
                return

    async def run_forever(self, stop: asyncio.Event) -> None:
        log.info("worker.started", worker=self.name)
        scheduled = False  # the housekeeping chain, queued once the database answers
        while not stop.is_set():
            try:
                if not scheduled:
                    await housekeeping.start_schedule(self.sessions, self.settings)
                    scheduled = True
                worked = await self.run_once()
            except Exception:
                log.exception("worker.claim_failed", worker=self.name)
                worked = 0
            if not worked:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=self.settings.job_poll_seconds)
        log.info("worker.stopped", worker=self.name)

    def _fence(self, job: Job) -> sa.ColumnElement[bool]:
        return sa.and_(
            _jobs.c.id == job.id,
            _jobs.c.locked_by == self.name,
            _jobs.c.attempts == job.attempts,
            _jobs.c.status == JobStatus.RUNNING.value,
        )

    async def _run(self, job: Job) -> None:
        bound = log.bind(job_id=job.id, kind=job.kind, attempt=job.attempts)
        spec = handler_for(job.kind)
        if job.attempts > job.max_attempts or spec is None:
            reason = "no handler registered" if spec is None else "lease expired after last attempt"
            await self._finish_failed(job, reason, dead=True)
            bound.error("job.dead_lettered", reason=reason)
            return
        try:
            async with self.sessions() as session:
                ctx = JobContext(
                    session, self.sessions, self.settings, job.id, job.attempts, self.services
                )
                await spec.handler(ctx, job.payload)
                done = await session.execute(
                    sa.update(_jobs)
                    .where(self._fence(job))
                    .values(
                        status=JobStatus.SUCCEEDED.value, finished_at=utcnow(), lease_until=None
                    )
                )
                if done.rowcount != 1:  # type: ignore[attr-defined]
                    await session.rollback()
                    bound.warning("job.lease_lost")
                    return
                await session.commit()
            bound.info("job.succeeded")
        except Exception as e:
            permanent = isinstance(e, PermanentJobError)
            dead = permanent or job.attempts >= job.max_attempts
            delay = spec.backoff[min(job.attempts - 1, len(spec.backoff) - 1)]
            await self._finish_failed(job, f"{type(e).__name__}: {e}", dead=dead, delay=delay)
            bound.warning("job.failed", error=type(e).__name__, dead=dead, exc_info=not permanent)

    async def _finish_failed(
        self, job: Job, error: str, *, dead: bool, delay: timedelta = timedelta(0)
    ) -> None:
        values: dict[str, Any] = {"last_error": mask_text(error)[:2000], "lease_until": None}
        if dead:
            values |= {"status": JobStatus.DEAD.value, "finished_at": utcnow()}
        else:
            values |= {"status": JobStatus.QUEUED.value, "run_at": utcnow() + delay}
        async with self.sessions() as session:
            result = await session.execute(
                sa.update(_jobs).where(self._fence(job)).values(**values)
            )
            spec = handler_for(job.kind)
            if dead and result.rowcount == 1 and spec is not None and spec.on_dead is not None:  # type: ignore[attr-defined]
                ctx = JobContext(
                    session, self.sessions, self.settings, job.id, job.attempts, self.services
                )
                await spec.on_dead(ctx, job.payload)
            await session.commit()
