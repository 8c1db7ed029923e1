"""``gateway demo``: a month across the scenarios that adds up, the same for the same seed."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from gateway import migrate
from gateway.db import create_engine, session_factory
from gateway.demo.run import run_demo
from gateway.partners.models import PartnerApplication
from gateway.settings import Settings
from gateway.settlement.ledger.service import trial_balance
from gateway.settlement.models import ReconciliationException, Settlement
from gateway.staff.models import StaffUser


async def _figures(sessions: Any) -> dict[str, Any]:
    async with sessions() as s:
        statuses = sorted((await s.scalars(sa.select(PartnerApplication.status))).all())
        totals = (
            await s.execute(
                sa.select(
                    sa.func.count(), sa.func.sum(Settlement.gross), sa.func.sum(Settlement.fees)
                )
            )
        ).one()
        exceptions = await s.scalar(sa.select(sa.func.count()).select_from(ReconciliationException))
        users = sorted((await s.scalars(sa.select(StaffUser.username))).all())
        balance = await trial_balance(s)
    return {
        "applications": statuses,
        "settlements": tuple(int(v) for v in totals),
        "exceptions": exceptions,
        "users": users,
        "ledger_total": balance.total,
    }


async def test_the_demo_month_adds_up_and_repeats_with_its_seed(
    settings: Settings, sessions: Any, tmp_path: Path
) -> None:
    printed = await run_demo(settings, seed=5, customers=40)
    assert "demo_finance" in printed and "/console/login" in printed
    first = await _figures(sessions)
    assert first["applications"] == ["approved"] * 3 + ["rejected", "submitted"]
    count, gross, fees = first["settlements"]
    assert count >= 10 and gross > 0 and fees > 0
    assert first["exceptions"] >= 6  # each partner's busiest day: 2 or 3 differences
    assert first["ledger_total"] == 0
    assert "demo_risk_lead" in first["users"]

    other = settings.model_copy(
        update={"database_url": f"sqlite+aiosqlite:///{tmp_path / 'again.db'}"}
    )
    await asyncio.to_thread(migrate.upgrade, other.database_url)
    await run_demo(other, seed=5, customers=40)
    engine = create_engine(other)
    try:
        assert await _figures(session_factory(engine)) == first
    finally:
        await engine.dispose()
