"""Daily housekeeping deletes what has expired, keeps what may still be needed, and reschedules."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col, select

from gateway.auth.models import UsedNonce
from gateway.db import utcnow
from gateway.idempotency.models import IdempotencyRecord
from gateway.jobs.models import Job, JobStatus
from gateway.jobs.queue import enqueue
from gateway.jobs.schedule import next_daily_run
from gateway.jobs.worker import Worker
from gateway.ops import housekeeping
from gateway.ops.housekeeping import HOUSEKEEPING_JOB
from gateway.settings import Settings

Sessions = async_sessionmaker[AsyncSession]


async def _seed(sessions: Sessions, settings: Settings) -> None:
    now = utcnow()
    old = now - timedelta(days=settings.job_retention_days, hours=1)
    async with sessions.begin() as session:
        session.add_all(
            UsedNonce(scope="sig:p", nonce=f"gone-{n}", expires_at=now - timedelta(seconds=n + 1))
            for n in range(7)
        )
        session.add(UsedNonce(scope="sig:p", nonce="live", expires_at=now + timedelta(minutes=5)))
        for key, expires in (
            ("gone", now - timedelta(seconds=1)),
            ("kept", now + timedelta(hours=1)),
        ):
            session.add(
                IdempotencyRecord(
                    id=f"idem-{key}",
                    partner_id="p",
                    key=key,
                    fingerprint="f",
                    status="completed",
                    expires_at=expires,
                )
            )
        for name, status, finished in (
            ("old-done", JobStatus.SUCCEEDED, old),
            ("new-done", JobStatus.SUCCEEDED, now - timedelta(days=1)),
            ("old-dead", JobStatus.DEAD, old),
        ):
            session.add(
                Job(id=f"job-{name}", kind="x.test", status=status.value, finished_at=finished)
            )


async def test_housekeeping_purges_the_expired_keeps_the_rest_and_queues_tomorrow(
    sessions: Sessions, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(housekeeping, "CHUNK", 3)  # several chunks, each committed
    await _seed(sessions, settings)
    async with sessions.begin() as session:
        await enqueue(session, HOUSEKEEPING_JOB, {}, dedupe_key="housekeeping-now")

    await Worker(sessions, settings).run_until_idle()

    async with sessions() as session:
        nonces = (await session.execute(select(col(UsedNonce.nonce)))).scalars().all()
        keys = (await session.execute(select(col(IdempotencyRecord.key)))).scalars().all()
        jobs = {
            job.id: job.status
            for job in (await session.execute(select(Job))).scalars().all()
            if job.kind != HOUSEKEEPING_JOB
        }
        tomorrow = await session.scalar(
            select(Job).where(col(Job.kind) == HOUSEKEEPING_JOB, col(Job.status) == "queued")
        )
    assert nonces == ["live"]
    assert keys == ["kept"]
    assert jobs == {"job-new-done": "succeeded", "job-old-dead": "dead"}
    day, run_at = next_daily_run(utcnow(), settings.housekeeping_at)
    assert tomorrow is not None
    assert (tomorrow.dedupe_key, tomorrow.run_at) == (f"{HOUSEKEEPING_JOB}:{day}", run_at)


async def test_every_worker_start_asks_for_the_chain_and_it_exists_once(
    sessions: Sessions, settings: Settings
) -> None:
    for _ in range(3):
        await housekeeping.start_schedule(sessions, settings)

    async with sessions() as session:
        queued = (
            (await session.execute(select(Job).where(col(Job.kind) == HOUSEKEEPING_JOB)))
            .scalars()
            .all()
        )
    assert len(queued) == 1
