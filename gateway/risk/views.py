"""Read models of the admin API: rules with their feedback figures, cases with evidence."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from gateway.customers.models import Customer
from gateway.risk import cases
from gateway.risk.models import (
    CaseStatus,
    HoldStatus,
    RiskCase,
    RiskCaseAction,
    RiskEvent,
    RiskHit,
    RiskHold,
    RiskRule,
    RuleStatus,
)
from gateway.risk.schemas import (
    ActionRead,
    CaseRead,
    EvidenceRead,
    RelatedRead,
    RuleRead,
    RuleStats,
    SubjectRef,
)


async def rule_stats(session: AsyncSession, rule_ids: Sequence[str]) -> dict[str, RuleStats]:
    """Per rule: hits (acting), shadow hits, cases, closed cases, confirmed fraud, precision."""
    hits = dict(
        (
            await session.execute(
                select(col(RiskHit.rule_id), sa.func.count())
                .where(col(RiskHit.rule_id).in_(rule_ids), col(RiskHit.mode) == "published")
                .group_by(col(RiskHit.rule_id))
            )
        ).all()
    )
    shadow = dict(
        (
            await session.execute(
                select(col(RiskHit.rule_id), sa.func.count())
                .where(col(RiskHit.rule_id).in_(rule_ids), col(RiskHit.mode) == "shadow")
                .group_by(col(RiskHit.rule_id))
            )
        ).all()
    )
    per_case = (
        select(col(RiskHit.rule_id).label("rule_id"), col(RiskHit.case_id).label("case_id"))
        .where(col(RiskHit.rule_id).in_(rule_ids), col(RiskHit.case_id).is_not(None))
        .distinct()
        .subquery()
    )
    closed = sa.case((col(RiskCase.status) == CaseStatus.CLOSED.value, 1), else_=0)
    fraud = sa.case((col(RiskCase.outcome) == "fraud", 1), else_=0)
    figures = {
        r[0]: (int(r[1]), int(r[2] or 0), int(r[3] or 0))
        for r in (
            await session.execute(
                select(per_case.c.rule_id, sa.func.count(), sa.func.sum(closed), sa.func.sum(fraud))
                .join(RiskCase, col(RiskCase.id) == per_case.c.case_id)
                .group_by(per_case.c.rule_id)
            )
        ).all()
    }
    out = {}
    for rule_id in rule_ids:
        n_cases, n_closed, n_fraud = figures.get(rule_id, (0, 0, 0))
        out[rule_id] = RuleStats(
            hits=int(hits.get(rule_id, 0)),
            shadow_hits=int(shadow.get(rule_id, 0)),
            cases=n_cases,
            closed_cases=n_closed,
            confirmed_fraud=n_fraud,
            precision=round(n_fraud / n_closed, 4) if n_closed else None,
        )
    return out


def rule_read(rule: RiskRule, published: int | None, stats: RuleStats) -> RuleRead:
    return RuleRead(
        id=rule.id,
        version=rule.version,
        event_type=rule.event_type,
        description=rule.description,
        expression=rule.expression,
        severity=rule.severity,
        weight=rule.weight,
        subject=rule.subject,
        status=rule.status,
        author=rule.author,
        published_by=rule.published_by,
        created_at=rule.created_at,
        published_at=rule.published_at,
        published_version=published,
        stats=stats,
    )


async def rules_read(session: AsyncSession, rule_id: str | None = None) -> list[RuleRead]:
    """Every rule (or one) as its latest version, with the version in force and its figures."""
    stmt = select(RiskRule).order_by(col(RiskRule.id), col(RiskRule.version))
    if rule_id is not None:
        stmt = stmt.where(col(RiskRule.id) == rule_id)
    latest: dict[str, RiskRule] = {}
    published: dict[str, int] = {}
    for rule in (await session.scalars(stmt)).all():
        latest[rule.id] = rule
        if rule.status == RuleStatus.PUBLISHED:
            published[rule.id] = rule.version
    stats = await rule_stats(session, list(latest))
    return [rule_read(r, published.get(i), stats[i]) for i, r in latest.items()]


async def _related(session: AsyncSession, events: list[RiskEvent]) -> RelatedRead:
    """Customers, partners and transactions behind a case's evidence, and the links between
    them (how many customers share a phone, device or ID with the evidence)."""
    customers = {e.customer_id for e in events if e.customer_id}
    phones = {e.phone_index for e in events if e.phone_index}
    ids = {e.id_index for e in events if e.id_index}
    devices = {e.device_id for e in events if e.device_id}
    if phones or ids:
        found = await session.scalars(
            select(col(Customer.id)).where(
                sa.or_(col(Customer.phone_index).in_(phones), col(Customer.id_index).in_(ids))
            )
        )
        customers |= set(found.all())
    shared_device = 0
    if devices:
        shared_device = int(
            await session.scalar(
                select(sa.func.count(sa.distinct(col(RiskEvent.id_index)))).where(
                    col(RiskEvent.device_id).in_(devices)
                )
            )
            or 0
        )
    return RelatedRead(
        customers=sorted(customers),
        partners=sorted({e.partner_id for e in events}),
        transactions=sorted({e.txn_id for e in events if e.txn_id}),
        shared={"phones": len(phones), "id_numbers": len(ids), "ids_on_devices": shared_device},
    )


async def cases_read(
    session: AsyncSession, rows: Sequence[RiskCase], *, detail: bool = False
) -> list[CaseRead]:
    ids = [c.id for c in rows]
    evidence = await cases.evidence(session, ids)
    held: dict[str, list[str]] = {i: [] for i in ids}
    actions: dict[str, list[ActionRead]] = {i: [] for i in ids}
    if ids:
        for hold in (
            await session.scalars(
                select(RiskHold).where(
                    col(RiskHold.case_id).in_(ids), col(RiskHold.status) == HoldStatus.HELD.value
                )
            )
        ).all():
            held[hold.case_id].append(hold.txn_id)
        for action in (
            await session.scalars(
                select(RiskCaseAction)
                .where(col(RiskCaseAction.case_id).in_(ids))
                .order_by(col(RiskCaseAction.id))
            )
        ).all():
            actions[action.case_id].append(
                ActionRead(
                    action=action.action,
                    status=action.status,
                    target=action.target,
                    actor=action.actor,
                    created_at=action.created_at,
                )
            )
    out = []
    for case in rows:
        items = evidence.get(case.id, [])
        out.append(
            CaseRead(
                id=case.id,
                subject=SubjectRef(type=case.subject_type, id=case.subject_id),  # type: ignore[arg-type]
                status=case.status,
                priority=case.priority,
                hits=case.hits,
                rules=sorted({hit.rule_id for hit, _, _ in items}),
                evidence=[_evidence(*item) for item in items],
                assignee=case.assignee,
                outcome=case.outcome,
                note=case.note,
                related=await _related(session, [e for _, _, e in items]) if detail else None,
                holds=held[case.id],
                actions=actions[case.id],
                created_at=case.created_at,
                updated_at=case.updated_at,
                closed_at=case.closed_at,
            )
        )
    return out


def _evidence(hit: RiskHit, decision: Any, event: RiskEvent) -> EvidenceRead:
    return EvidenceRead(
        rule=hit.rule_id,
        version=hit.rule_version,
        mode=hit.mode,
        severity=hit.severity,
        values=hit.values,
        decision_id=decision.id,
        outcome=decision.outcome,
        ruleset_version=decision.ruleset_version,
        event_id=event.id,
        event_type=event.event_type,
        occurred_at=event.occurred_at,
        partner_id=event.partner_id,
        customer_id=event.customer_id,
        transaction_id=event.txn_id,
    )
