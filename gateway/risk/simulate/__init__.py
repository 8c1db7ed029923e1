"""Fraud scenario generator: a normal population with planted patterns and their ground truth,
scored by the real risk engine, with detection recall and precision per pattern (ADR 0016).

    scenario = generate(seed=7, customers=5_000)        # pure data: steps + truth
    scenario, result = await simulate(sessions, vault, seed=7, customers=5_000)
    print(result.render())

or ``python -m gateway.risk.simulate --seed 7 --customers 5000`` (a scratch SQLite database).
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.pii import PiiVault
from gateway.risk.simulate.population import (
    DEFAULT_DAYS,
    PATTERN_RULES,
    PATTERNS,
    Customer,
    Event,
    Opening,
    Scenario,
    Subject,
    default_instances,
    generate,
)
from gateway.risk.simulate.scoring import Flags, PatternScore, Report, RuleScore, report, run

__all__ = [
    "PATTERNS",
    "PATTERN_RULES",
    "Customer",
    "Event",
    "Flags",
    "Opening",
    "PatternScore",
    "Report",
    "RuleScore",
    "Scenario",
    "Subject",
    "default_instances",
    "generate",
    "report",
    "run",
    "simulate",
]


async def simulate(
    sessions: async_sessionmaker[AsyncSession],
    vault: PiiVault,
    *,
    seed: int,
    customers: int,
    instances: int | None = None,
    days: int = DEFAULT_DAYS,
) -> tuple[Scenario, Report]:
    """Generate a scenario, score it through the engine into ``sessions``' database (its risk
    events, decisions and cases stay there), and report what the published rules caught."""
    scenario = generate(seed, customers, instances=instances, days=days)
    flags = await run(sessions, vault, scenario)
    return scenario, report(scenario, flags)
