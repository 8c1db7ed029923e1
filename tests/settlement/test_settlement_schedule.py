"""The scheduled daily run (DESIGN §10): queued once when the first partner is approved, it
settles the previous business date at 01:00 Asia/Shanghai like a requested run, queues the next
day once, and running it again changes nothing."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa
from litestar import Litestar

from gateway.clock import SHANGHAI, travelled_to
from gateway.db import utcnow
from gateway.jobs.models import Job, JobStatus
from gateway.jobs.registry import PermanentJobError
from gateway.jobs.schedule import next_daily_run
from gateway.settlement import runs
from gateway.settlement.ledger.service import trial_balance
from gateway.settlement.models import SettlementRun
from gateway.settlement.runs import RUN_JOB
from gateway.settlement.schedule import DAILY_JOB
from tests.conftest import StaffFactory, run_jobs
from tests.settlement.test_settlement import _day_of_payments, today


async def _daily_jobs(sessions: Any) -> list[tuple[str | None, str, datetime]]:
    async with sessions() as s:
        rows = (
            await s.execute(
                sa.select(Job.dedupe_key, Job.status, Job.run_at)
                .where(Job.kind == DAILY_JOB)
                .order_by(Job.created_at)
            )
        ).all()
    return [(key, status, run_at) for key, status, run_at in rows]


def _shanghai(day: date, at: time) -> datetime:
    return datetime.combine(day, at, tzinfo=SHANGHAI)


def _noon_today() -> datetime:
    """Where the daily-run tests stand: after today's 01:00 run, whatever the wall clock says
    (between 00:00 and 01:00 Asia/Shanghai the next run would be today's, not tomorrow's)."""
    return _shanghai(datetime.now(SHANGHAI).date(), time(12))


async def _settlements(partner: Any, day: str) -> list[dict[str, Any]]:
    resp = await partner.call("GET", f"/v1/settlements?business_date={day}")
    assert resp.status_code == 200, resp.text
    return list(resp.json()["data"])


def test_the_next_run_is_the_first_one_strictly_after_now() -> None:
    one = time(1, 0)
    before = _shanghai(date(2026, 11, 30), time(0, 59))
    assert next_daily_run(before, one) == (
        date(2026, 11, 30),
        datetime(2026, 11, 29, 17, 0, tzinfo=UTC),
    )
    at = _shanghai(date(2026, 11, 30), one)
    assert next_daily_run(at, one)[0] == date(2026, 12, 1)


async def test_the_daily_run_settles_yesterday_and_queues_tomorrow_once(
    client: Any, app: Litestar, staff: StaffFactory, sessions: Any
) -> None:
    with travelled_to(_noon_today()):
        partner, _ = await _day_of_payments(client, app, staff, sessions)
        day = date.fromisoformat(today())
        tomorrow, after = day + timedelta(days=1), day + timedelta(days=2)
        await run_jobs(app)  # the first job, queued at approval, only schedules
        jobs = await _daily_jobs(sessions)
        assert [(k, s) for k, s, _ in jobs] == [
            (f"{DAILY_JOB}:first", JobStatus.SUCCEEDED),
            (f"{DAILY_JOB}:{tomorrow}", JobStatus.QUEUED),
        ]
        assert jobs[1][2] == _shanghai(tomorrow, time(1, 0))
        assert await _settlements(partner, today()) == []

        with travelled_to(_shanghai(tomorrow, time(1, 1))):
            await run_jobs(app)
        [settlement] = await _settlements(partner, today())
        assert (settlement["count"], settlement["gross"], settlement["fees"]) == (4, 63_833, 162)
        assert settlement["payout_status"] == "paid"
        jobs = await _daily_jobs(sessions)
        assert [(k, s) for k, s, _ in jobs[1:]] == [
            (f"{DAILY_JOB}:{tomorrow}", JobStatus.SUCCEEDED),
            (f"{DAILY_JOB}:{after}", JobStatus.QUEUED),
        ]
        assert jobs[2][2] == _shanghai(after, time(1, 0))
        async with sessions() as s:
            [run] = (await s.scalars(sa.select(SettlementRun))).all()
            before = (await trial_balance(s)).balances
        assert (run.business_date, run.requested_by, run.settlements) == (day, "scheduler", 1)

        # Delivered again (a worker lost its lease): a second run finds nothing new.
        async with sessions() as s:
            await s.execute(
                sa.update(Job)
                .where(Job.dedupe_key == f"{DAILY_JOB}:{tomorrow}")  # type: ignore[arg-type]
                .values(status=JobStatus.QUEUED)
            )
            await s.commit()
        with travelled_to(_shanghai(tomorrow, time(1, 30))):
            await run_jobs(app)
        assert await _settlements(partner, today()) == [settlement]
        assert [(k, s) for k, s, _ in (await _daily_jobs(sessions))[1:]] == [
            (f"{DAILY_JOB}:{tomorrow}", JobStatus.SUCCEEDED),
            (f"{DAILY_JOB}:{after}", JobStatus.QUEUED),
        ]
        async with sessions() as s:
            reruns = (await s.scalars(sa.select(SettlementRun.settlements))).all()
            assert (await trial_balance(s)).balances == before
        assert sorted(reruns) == [0, 1]


async def test_a_run_in_progress_is_left_to_finish(
    client: Any, app: Litestar, staff: StaffFactory, sessions: Any
) -> None:
    with travelled_to(_noon_today()):
        partner, _ = await _day_of_payments(client, app, staff, sessions)
        finance = await staff.token("fin-sched", "finance")
        tomorrow = date.fromisoformat(today()) + timedelta(days=1)
        await run_jobs(app)
        requested = await client.post(
            "/admin/v1/settlements/run", json={"business_date": today()}, headers=finance
        )
        assert requested.status_code == 202, requested.text
        async with sessions() as s:  # the requested run's worker is slow: it starts at 02:00
            await s.execute(
                sa.update(Job)
                .where(Job.kind == RUN_JOB)  # type: ignore[arg-type]
                .values(run_at=_shanghai(tomorrow, time(2, 0)))
            )
            await s.commit()
        with travelled_to(_shanghai(tomorrow, time(1, 5))):
            await run_jobs(app)  # only the scheduled job is due: it finds the run in progress
        async with sessions() as s:
            runs = (await s.execute(sa.select(SettlementRun.id, SettlementRun.status))).all()
        assert runs == [(requested.json()["id"], "running")]
        assert [k for k, _, _ in await _daily_jobs(sessions)][
            -1
        ] == f"{DAILY_JOB}:{tomorrow + timedelta(days=1)}"
        with travelled_to(_shanghai(tomorrow, time(2, 1))):
            await run_jobs(app)
        async with sessions() as s:
            runs = (await s.execute(sa.select(SettlementRun.id, SettlementRun.settlements))).all()
        assert runs == [(requested.json()["id"], 1)]
        assert len(await _settlements(partner, today())) == 1


async def _bring_forward(sessions: Any, key: str) -> None:
    async with sessions() as s:
        await s.execute(
            sa.update(Job)
            .where(Job.dedupe_key == key)  # type: ignore[arg-type]
            .values(run_at=utcnow() - timedelta(seconds=1))
        )
        await s.commit()


async def test_a_day_run_early_or_given_up_still_queues_the_day_after(
    client: Any, app: Litestar, staff: StaffFactory, sessions: Any, monkeypatch: Any
) -> None:
    with travelled_to(_noon_today()):
        partner, _ = await _day_of_payments(client, app, staff, sessions)
        day = date.fromisoformat(today())
        await run_jobs(app)
        # Brought forward by hand: it settles the day before its own date, here today, and the
        # next run is still the day after its own.
        await _bring_forward(sessions, f"{DAILY_JOB}:{day + timedelta(days=1)}")
        await run_jobs(app)
        assert len(await _settlements(partner, today())) == 1
        assert (await _daily_jobs(sessions))[-1][:2] == (
            f"{DAILY_JOB}:{day + timedelta(days=2)}",
            JobStatus.QUEUED,
        )

        async def broken(*_: Any, **__: Any) -> None:
            raise PermanentJobError("the database refused")

        monkeypatch.setattr(runs, "start_run", broken)
        await _bring_forward(sessions, f"{DAILY_JOB}:{day + timedelta(days=2)}")
        await run_jobs(app)
        assert [(k, s) for k, s, _ in await _daily_jobs(sessions)][-2:] == [
            (f"{DAILY_JOB}:{day + timedelta(days=2)}", JobStatus.DEAD),
            (f"{DAILY_JOB}:{day + timedelta(days=3)}", JobStatus.QUEUED),
        ]
