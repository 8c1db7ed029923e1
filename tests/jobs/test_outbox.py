"""Outbox guarantees: commit-or-nothing, one runner per job, lease takeover, dead letters."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.audit.models import AuditRecord
from gateway.db import utcnow
from gateway.jobs import JobContext, enqueue, job_handler
from gateway.jobs.models import Job, JobStatus
from gateway.jobs.registry import PermanentJobError
from gateway.jobs.worker import Worker
from gateway.settings import Settings

RUNS: list[str] = []


@job_handler("test.record")
async def record_job(ctx: JobContext, payload: dict[str, Any]) -> None:
    RUNS.append(payload["n"])
    ctx.session.add(
        AuditRecord(
            id=f"aud_{payload['n']}_{ctx.attempt}",
            actor="job",
            action="test",
            subject_type="t",
            subject_id="x",
        )
    )


@job_handler("test.flaky", backoff=[timedelta(seconds=0)])
async def flaky_job(ctx: JobContext, payload: dict[str, Any]) -> None:
    RUNS.append(f"flaky{ctx.attempt}")
    ctx.session.add(
        AuditRecord(
            id=f"aud_flaky{ctx.attempt}", actor="job", action="t", subject_type="t", subject_id="x"
        )
    )
    if ctx.attempt < payload["succeed_on"]:
        raise ConnectionError("counterparty down")


@job_handler("test.permanent")
async def permanent_job(ctx: JobContext, payload: dict[str, Any]) -> None:
    raise PermanentJobError("cannot ever work")


@job_handler("test.slow")
async def slow_job(ctx: JobContext, payload: dict[str, Any]) -> None:
    RUNS.append(payload["n"])
    await asyncio.sleep(0.05)


@job_handler("test.longer_than_a_lease")
async def long_job(ctx: JobContext, payload: dict[str, Any]) -> None:
    RUNS.append(payload["n"])
    ctx.services["started"].set()
    await asyncio.sleep(payload["seconds"])


@pytest.fixture(autouse=True)
def _clear_runs() -> None:
    RUNS.clear()


async def _job(sessions: async_sessionmaker[AsyncSession], job_id: str) -> Job:
    async with sessions() as s:
        job = await s.get(Job, job_id)
        assert job is not None
        return job


async def _audit_ids(sessions: async_sessionmaker[AsyncSession]) -> list[str]:
    async with sessions() as s:
        return sorted((await s.scalars(sa.select(AuditRecord.id))).all())


async def test_job_enqueued_in_rolled_back_transaction_never_runs(
    sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    async with sessions() as s:
        await enqueue(s, "test.record", {"n": "rolled-back"})
        await s.rollback()
    async with sessions() as s:
        await enqueue(s, "test.record", {"n": "committed"})
        await s.commit()
    await Worker(sessions, settings).run_until_idle()
    assert RUNS == ["committed"]


async def test_effects_commit_with_completion(
    sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    async with sessions() as s:
        job_id = await enqueue(s, "test.record", {"n": "a"})
        await s.commit()
    await Worker(sessions, settings).run_until_idle()
    job = await _job(sessions, job_id)
    assert job.status == JobStatus.SUCCEEDED
    assert await _audit_ids(sessions) == ["aud_a_1"]


async def test_dedupe_key_enqueues_once(
    sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    async with sessions() as s:
        await enqueue(s, "test.record", {"n": "once"}, dedupe_key="batch:1")
        await enqueue(s, "test.record", {"n": "twice"}, dedupe_key="batch:1")
        await s.commit()
    await Worker(sessions, settings).run_until_idle()
    assert RUNS == ["once"]


async def test_two_workers_never_run_the_same_job(
    sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    async with sessions() as s:
        for n in range(30):
            await enqueue(s, "test.slow", {"n": n})
        await s.commit()
    workers = [Worker(sessions, settings, batch_size=3) for _ in range(3)]
    await asyncio.gather(*(w.run_until_idle() for w in workers))
    assert sorted(RUNS) == list(range(30))
    async with sessions() as s:
        statuses = (await s.scalars(sa.select(Job.status))).all()
        attempts = (await s.scalars(sa.select(Job.attempts))).all()
    assert set(statuses) == {JobStatus.SUCCEEDED}
    assert set(attempts) == {1}


async def test_failures_back_off_then_succeed(
    sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    async with sessions() as s:
        job_id = await enqueue(s, "test.flaky", {"succeed_on": 3})
        await s.commit()
    worker = Worker(sessions, settings)
    await worker.run_until_idle()
    job = await _job(sessions, job_id)
    assert job.status == JobStatus.SUCCEEDED
    assert job.attempts == 3
    assert RUNS == ["flaky1", "flaky2", "flaky3"]
    # Effects of failed attempts rolled back; only the successful attempt's effect remains.
    assert await _audit_ids(sessions) == ["aud_flaky3"]


async def test_job_dead_letters_after_max_attempts(
    sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    async with sessions() as s:
        flaky = await enqueue(s, "test.flaky", {"succeed_on": 99}, max_attempts=2)
        permanent = await enqueue(s, "test.permanent", {})
        unknown = await enqueue(s, "test.nobody-handles-this", {})
        await s.commit()
    await Worker(sessions, settings).run_until_idle()
    for job_id in (flaky, permanent, unknown):
        job = await _job(sessions, job_id)
        assert job.status == JobStatus.DEAD, job
        assert job.last_error
    assert (await _job(sessions, flaky)).attempts == 2
    assert (await _job(sessions, permanent)).attempts == 1


async def test_crashed_worker_job_is_retried_after_lease_and_late_finish_is_fenced(
    sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    async with sessions() as s:
        job_id = await enqueue(s, "test.record", {"n": "crash"})
        await s.commit()
    crashed = Worker(sessions, settings)
    claimed = await crashed.claim()  # claims, then "dies" without finishing
    assert [j.id for j in claimed] == [job_id]

    other = Worker(sessions, settings)
    assert await other.claim() == []  # lease still held

    async with sessions() as s:  # time passes: the lease expires
        await s.execute(
            sa.update(Job)
            .where(Job.id == job_id)
            .values(lease_until=utcnow() - timedelta(seconds=1))
        )
        await s.commit()
    await other.run_until_idle()
    assert (await _job(sessions, job_id)).status == JobStatus.SUCCEEDED
    assert RUNS == ["crash"]

    # The crashed worker wakes and finishes its stale copy: the fence rejects it and rolls back.
    await crashed._run(claimed[0])
    assert await _audit_ids(sessions) == ["aud_crash_2"]


async def test_job_longer_than_its_lease_is_never_taken_over_while_it_runs(
    sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    """Regression: leases were never extended, so a second worker took over a job that ran past
    its lease and the first one's completion was fenced out, again and again (a settlement run
    longer than a lease on two workers dead-lettered and stayed ``running`` for ever)."""
    settings = settings.model_copy(update={"job_lease_seconds": 1})
    async with sessions() as s:
        long = await enqueue(s, "test.longer_than_a_lease", {"n": "long", "seconds": 2.5})
        await s.commit()
    async with sessions() as s:  # claimed with it, waiting its turn behind the long one
        queued = await enqueue(s, "test.record", {"n": "queued"})
        await s.commit()
    started = asyncio.Event()
    busy = Worker(sessions, settings, {"started": started})
    other = Worker(sessions, settings)
    running = asyncio.create_task(busy.run_once())
    await started.wait()  # the busy worker has claimed both and started the long one
    taken_over: list[Job] = []
    while not running.done():
        taken_over += await other.claim()
        await asyncio.sleep(0.1)
    assert await running == 2
    assert taken_over == []
    assert RUNS == ["long", "queued"]
    for job_id in (long, queued):
        job = await _job(sessions, job_id)
        assert (job.status, job.attempts) == (JobStatus.SUCCEEDED, 1)


async def test_requeue_dead_job(
    sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    from gateway.jobs.queue import requeue_dead  # noqa: PLC0415

    async with sessions() as s:
        job_id = await enqueue(s, "test.flaky", {"succeed_on": 2}, max_attempts=1)
        await s.commit()
    await Worker(sessions, settings).run_until_idle()
    assert (await _job(sessions, job_id)).status == JobStatus.DEAD
    async with sessions() as s:
        assert await requeue_dead(s, job_id)
        await s.commit()
    await Worker(sessions, settings).run_until_idle()
    assert (await _job(sessions, job_id)).status == JobStatus.DEAD  # attempt 1 of 1 fails again
    assert RUNS == ["flaky1", "flaky1"]
