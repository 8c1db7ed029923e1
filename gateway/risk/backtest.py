"""Backtests: what a rule version would have hit over recorded events.

Recorded events carry the payload and the features they were scored on, so a backtest replays
exactly those through the draft's CEL program — no feature is recomputed and the past is not
re-read under today's data. A draft that reads a feature added after an event was recorded
counts that event under ``errors`` instead of guessing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import cel
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from gateway.risk.engine import cel_event, evidence_values, subject_of
from gateway.risk.models import RiskEvent, RiskRule
from gateway.risk.rules import CompiledRule, compile_rule

PAGE = 5_000
SAMPLE = 50


@dataclass
class BacktestResult:
    evaluated: int = 0
    hits: int = 0
    errors: int = 0
    subjects: set[tuple[str, str]] = field(default_factory=set)
    sample: list[dict[str, Any]] = field(default_factory=list)


def as_compiled(rule: RiskRule) -> CompiledRule:
    return compile_rule(
        rule_id=rule.id,
        version=rule.version,
        mode=rule.status,
        severity=rule.severity,
        weight=rule.weight,
        subject=rule.subject,
        expression=rule.expression,
    )


def score(rule: CompiledRule, program: Any, row: RiskEvent, result: BacktestResult) -> None:
    """Replay one recorded event through one rule's program."""
    result.evaluated += 1
    missing = [f for f in rule.features if f not in row.features]
    if missing:
        result.errors += 1
        return
    try:
        fired = program.execute({"event": cel_event(row), "features": row.features}) is True
    except (KeyError, TypeError, ValueError, RuntimeError):
        result.errors += 1
        return
    if fired:
        result.hits += 1
        subject = subject_of(rule.subject, row)
        result.subjects.add(subject)
        if len(result.sample) < SAMPLE:
            result.sample.append(
                {
                    "event_id": row.id,
                    "occurred_at": row.occurred_at.isoformat(),
                    "subject": {"type": subject[0], "id": subject[1]},
                    "values": evidence_values(rule, row),
                }
            )


async def run(
    session: AsyncSession, rule: RiskRule, since: datetime, until: datetime
) -> BacktestResult:
    compiled_rule = as_compiled(rule)
    program = cel.compile(rule.expression)
    result = BacktestResult()
    after = ""
    while True:
        rows = (
            await session.scalars(
                select(RiskEvent)
                .where(
                    col(RiskEvent.event_type) == rule.event_type,
                    col(RiskEvent.occurred_at) >= since,
                    col(RiskEvent.occurred_at) < until,
                    col(RiskEvent.id) > after,
                )
                .order_by(col(RiskEvent.id))
                .limit(PAGE)
            )
        ).all()
        for row in rows:
            score(compiled_rule, program, row, result)
        if len(rows) < PAGE:
            return result
        after = rows[-1].id
