"""Settlement runs under failure and concurrency: a crash mid-run leaves nothing half-settled,
two runs never settle twice, and ``gateway settle`` does the same from the command line."""

from __future__ import annotations

import asyncio
from datetime import date
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from litestar import Litestar

from gateway.cli import main
from gateway.scenarios.models import Transaction
from gateway.settings import Settings
from gateway.settlement import runs
from gateway.settlement.models import Settlement, SettlementRun
from tests.conftest import StaffFactory
from tests.settlement.test_settlement import _day_of_payments, today


async def _unsettled(sessions: Any) -> int:
    async with sessions() as s:
        return int(
            await s.scalar(
                sa.select(sa.func.count())
                .select_from(Transaction)
                .where(Transaction.settlement_id.is_(None))  # type: ignore[union-attr]
            )
            or 0
        )


async def test_a_crash_mid_run_rolls_back_and_the_run_resumes(
    client: Any, app: Litestar, staff: StaffFactory, sessions: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _day_of_payments(client, app, staff, sessions)
    async with sessions() as s:
        run, created = await runs.start_run(s, date.fromisoformat(today()), "t", production=False)
        await s.commit()
    assert created

    async def crash(*_: Any) -> int:
        raise RuntimeError("killed after marking, before the settlement row")

    monkeypatch.setattr(runs, "_carried_in", crash)
    async with sessions() as s:
        with pytest.raises(RuntimeError):
            await runs.execute_run(s, run.id)
        await s.rollback()
    assert await _unsettled(sessions) == 4
    monkeypatch.undo()

    async with sessions() as s:
        finished = await runs.execute_run(s, run.id)
        await s.commit()
    assert finished is not None and finished.settlements == 1
    assert await _unsettled(sessions) == 0
    async with sessions() as s:
        assert await runs.execute_run(s, run.id) is None  # already completed: a no-op


async def test_two_racing_runs_make_one_settlement(
    client: Any, app: Litestar, staff: StaffFactory, sessions: Any
) -> None:
    await _day_of_payments(client, app, staff, sessions)
    day = date.fromisoformat(today())

    async def start() -> tuple[str, bool]:
        async with sessions() as s:
            run, created = await runs.start_run(s, day, "racer", production=False)
            await s.commit()
            return run.id, created

    started = await asyncio.gather(start(), start())
    assert len({run_id for run_id, _ in started}) == 1
    assert sorted(created for _, created in started) == [False, True]

    async def execute(run_id: str) -> bool:
        async with sessions() as s:
            done = await runs.execute_run(s, run_id)
            await s.commit()
            return done is not None

    outcomes = await asyncio.gather(execute(started[0][0]), execute(started[0][0]))
    assert sorted(outcomes) == [False, True]
    async with sessions() as s:
        assert await s.scalar(sa.select(sa.func.count()).select_from(Settlement)) == 1
        active = await s.scalar(sa.select(SettlementRun).where(SettlementRun.active.is_(True)))  # type: ignore[union-attr]
    assert active is None


async def test_gateway_settle_runs_and_pays_from_the_command_line(
    client: Any, app: Litestar, staff: StaffFactory, sessions: Any, settings: Settings
) -> None:
    await _day_of_payments(client, app, staff, sessions)
    env = {
        "GATEWAY_DATABASE_URL": settings.database_url,
        "GATEWAY_SECRET_KEY": settings.secret_key or "",
        "GATEWAY_PII_KEY": settings.pii_key or "",
    }
    result = await asyncio.to_thread(
        CliRunner().invoke, main, ["settle", "--date", today()], env=env
    )
    assert result.exit_code == 0, result.output
    assert "1 settlements" in result.output and "1 paid" in result.output
    again = await asyncio.to_thread(
        CliRunner().invoke, main, ["settle", "--date", today()], env=env
    )
    assert "0 settlements" in again.output
