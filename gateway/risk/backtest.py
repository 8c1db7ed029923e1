"""Backtests: what a rule version would have hit over recorded events.

Recorded events carry the payload and the features they were scored on, so a backtest replays
exactly those through the draft's CEL program — no feature is recomputed and the past is not
re-read under today's data. A draft that reads a feature added after an event was recorded
counts that event under ``errors`` instead of guessing. Events are read in pages of plain
columns (no ORM objects), the path ``bench/risk_scoring.py`` measures.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from gateway.risk.engine import cel_event, evidence_values, subject_of
from gateway.risk.models import RiskEvent, RiskRule
from gateway.risk.rules import CompiledRule, CompiledSet, compile_rule

PAGE = 5_000
SAMPLE = 50


@dataclass(frozen=True, slots=True)
class Recorded:
    id: str
    occurred_at: datetime
    partner_id: str
    customer_id: str | None
    sub_channel: str | None
    merchant: str | None
    payload: dict[str, Any]
    features: dict[str, Any]


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


def _decode(raw: Any) -> dict[str, Any]:
    """JSON columns read as text and decoded by msgspec (several times faster than json)."""
    if isinstance(raw, dict):
        return raw
    decoded: dict[str, Any] = msgspec.json.decode(raw) if raw else {}
    return decoded


async def recorded(
    session: AsyncSession, event_type: str, since: datetime, until: datetime
) -> AsyncIterator[list[Recorded]]:
    """Recorded events of a type in ``[since, until)``, in pages, oldest id first."""
    after = ""
    while True:
        rows = (
            await session.execute(
                sa.select(
                    col(RiskEvent.id),
                    col(RiskEvent.occurred_at),
                    col(RiskEvent.partner_id),
                    col(RiskEvent.customer_id),
                    col(RiskEvent.sub_channel),
                    col(RiskEvent.merchant),
                    sa.type_coerce(col(RiskEvent.payload), sa.Text),
                    sa.type_coerce(col(RiskEvent.features), sa.Text),
                )
                .where(
                    col(RiskEvent.event_type) == event_type,
                    col(RiskEvent.occurred_at) >= since,
                    col(RiskEvent.occurred_at) < until,
                    col(RiskEvent.id) > after,
                )
                .order_by(col(RiskEvent.id))
                .limit(PAGE)
            )
        ).all()
        yield [Recorded(*r[:6], _decode(r[6]), _decode(r[7])) for r in rows]
        if len(rows) < PAGE:
            return
        after = rows[-1][0]


def score(rule: CompiledRule, program: CompiledSet, row: Recorded, result: BacktestResult) -> None:
    """Replay one recorded event through one rule's program."""
    result.evaluated += 1
    if any(f not in row.features for f in rule.features):
        result.errors += 1
        return
    if not program.evaluate(cel_event(row), row.features)[0]:
        return
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
    program = CompiledSet((compiled_rule,))
    result = BacktestResult()
    async for page in recorded(session, rule.event_type, since, until):
        for row in page:
            score(compiled_rule, program, row, result)
    return result
