"""The fraud scenario generator (ADR 0016): planted patterns scored by the real risk engine."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlmodel import col, select
from stdnum.cn import ric

from gateway.pii import PiiVault
from gateway.risk.models import CaseStatus, RiskCase, RiskEvent
from gateway.risk.rules import DEFAULT_RULES
from gateway.risk.simulate import PATTERN_RULES, PATTERNS, Opening, generate, simulate
from gateway.settings import Settings

SEED, CUSTOMERS, DAYS = 11, 100, 14


def _shape(seed: int) -> list[tuple[Any, ...]]:
    scenario = generate(seed, CUSTOMERS, days=DAYS)
    return [
        (s.at, s.applicant.id_number, s.channel) if isinstance(s, Opening) else (s.at, s.fields)
        for s in scenario.steps
    ]


def test_the_same_seed_gives_the_same_scenario() -> None:
    assert _shape(SEED) == _shape(SEED)
    assert _shape(SEED) != _shape(SEED + 1)
    assert generate(SEED, CUSTOMERS).truth == generate(SEED, CUSTOMERS).truth


def test_every_default_rule_has_a_planted_pattern_and_every_pattern_a_subject() -> None:
    scenario = generate(SEED, 4_000)
    assert {r for rules in PATTERN_RULES.values() for r in rules} == {
        str(r["id"]) for r in DEFAULT_RULES
    }
    assert {p: len(s) for p, s in scenario.truth.items()} == dict.fromkeys(PATTERNS, 2)
    assert len(scenario.planted()) == 2 * len(PATTERNS)  # no subject carries two patterns
    applicants = [s.applicant for s in scenario.steps if isinstance(s, Opening)]
    assert all(ric.is_valid(a.id_number) for a in applicants)
    assert len({a.id_number for a in applicants}) == len(applicants)
    assert all(s.at >= scenario.start for s in scenario.steps)
    assert all(e.at < scenario.start for e in scenario.history)


async def test_each_rule_fires_on_its_pattern_and_stays_quiet_on_the_normal_population(
    sessions: Any, settings: Settings
) -> None:
    scenario, report = await simulate(
        sessions, PiiVault(settings.pii_key_bytes), seed=SEED, customers=CUSTOMERS, days=DAYS
    )
    print(report.render())
    for rule in report.rules:
        assert rule.on_pattern >= 1, f"{rule.rule} missed its pattern"
        assert rule.false == 0, f"{rule.rule} flagged the normal population"
        assert rule.on_other_pattern == 0, f"{rule.rule} flagged another pattern"
    for pattern in PATTERNS:
        assert report.pattern(pattern).recall == 1.0, pattern
    assert report.recall >= 0.9
    assert report.precision >= 0.8
    async with sessions() as s:
        logged = await s.scalar(select(sa.func.count()).select_from(RiskEvent))
        cases = (
            await s.execute(
                select(col(RiskCase.subject_type), col(RiskCase.subject_id)).where(
                    col(RiskCase.status) == CaseStatus.OPEN.value
                )
            )
        ).all()
    assert logged == len(scenario.steps) + len(scenario.history)
    assert {(t, i) for t, i in cases} == set(scenario.planted())  # the risk queue shows them
