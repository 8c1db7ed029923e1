"""The rule lifecycle: drafts, shadow, four-eyes publishing, rule-set versions, seeding.

The default rules are seeded on first use (the first assessment or rule listing that finds no
published rule set), as version 1 published by ``system``: rule content is data the risk team owns,
not schema, and seeding from code keeps every fresh database — a new deployment, a test database
that was truncated — consistent with :data:`gateway.risk.rules.DEFAULT_RULES` (ADR 0012). Inserts
ignore conflicts, so two replicas seeding at once leave one copy.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from gateway import audit
from gateway.db import utcnow
from gateway.errors import Conflict, Forbidden, NotFound
from gateway.risk.models import RiskRule, RiskRuleset, RuleStatus, Severity
from gateway.risk.rules import DEFAULT_RULES, CompiledRule, compile_rule, validate
from gateway.staff.service import StaffIdentity

SYSTEM = "system"
DEFAULT_WEIGHT = 10


class FourEyesViolation(Forbidden):
    code = "four_eyes_violation"


def _insert(session: AsyncSession) -> Any:
    return pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert


async def ensure_defaults(session: AsyncSession) -> None:
    """Seed the default rules as rule set 1 unless a rule set exists."""
    if await session.scalar(select(sa.func.max(col(RiskRuleset.version)))) is not None:
        return
    insert = _insert(session)
    now = utcnow()
    rows = [
        {
            "id": r["id"],
            "version": 1,
            "event_type": str(r["event_type"]),
            "description": r["description"],
            "expression": r["expression"],
            "severity": Severity.REVIEW.value,
            "weight": DEFAULT_WEIGHT,
            "subject": str(r["subject"]),
            "status": RuleStatus.PUBLISHED.value,
            "author": SYSTEM,
            "published_by": SYSTEM,
            "created_at": now,
            "published_at": now,
        }
        for r in DEFAULT_RULES
    ]
    await session.execute(insert(RiskRule).values(rows).on_conflict_do_nothing())
    await session.execute(
        insert(RiskRuleset)
        .values(
            version=1,
            rules={r["id"]: 1 for r in DEFAULT_RULES},
            published_by=SYSTEM,
            created_at=now,
        )
        .on_conflict_do_nothing()
    )


async def active(session: AsyncSession, event_type: str) -> tuple[int, list[CompiledRule]]:
    """The current rule-set version and the published and shadow rules of an event type."""
    version = await session.scalar(select(sa.func.max(col(RiskRuleset.version))))
    if version is None:
        await ensure_defaults(session)
        version = 1
    rows = (
        await session.execute(
            sa.select(
                col(RiskRule.id),
                col(RiskRule.version),
                col(RiskRule.status),
                col(RiskRule.severity),
                col(RiskRule.weight),
                col(RiskRule.subject),
                col(RiskRule.expression),
            )
            .where(
                col(RiskRule.event_type) == event_type,
                col(RiskRule.status).in_([RuleStatus.PUBLISHED.value, RuleStatus.SHADOW.value]),
            )
            .order_by(col(RiskRule.id), col(RiskRule.version))
        )
    ).all()
    return int(version), [
        compile_rule(
            rule_id=r[0],
            version=r[1],
            mode=r[2],
            severity=r[3],
            weight=r[4],
            subject=r[5],
            expression=r[6],
        )
        for r in rows
    ]


async def versions(session: AsyncSession, rule_id: str) -> list[RiskRule]:
    await ensure_defaults(session)
    rows = (
        await session.scalars(
            select(RiskRule).where(col(RiskRule.id) == rule_id).order_by(col(RiskRule.version))
        )
    ).all()
    if not rows:
        raise NotFound("No such rule.")
    return list(rows)


async def latest(session: AsyncSession, rule_id: str, *, for_update: bool = False) -> RiskRule:
    await ensure_defaults(session)
    stmt = (
        select(RiskRule)
        .where(col(RiskRule.id) == rule_id)
        .order_by(col(RiskRule.version).desc())
        .limit(1)
    )
    if for_update:
        stmt = stmt.with_for_update()
    rule = await session.scalar(stmt)
    if rule is None:
        raise NotFound("No such rule.")
    return rule


async def create_draft(
    session: AsyncSession, staff: StaffIdentity, values: dict[str, Any], *, new: bool
) -> RiskRule:
    """A new rule (``new``) or a new draft version of an existing one, validated first."""
    validate(values["expression"], values["event_type"])
    await ensure_defaults(session)
    version = 1
    if new:
        if await session.scalar(select(RiskRule.id).where(col(RiskRule.id) == values["id"])):
            raise Conflict("A rule with this id exists; PUT a new version.", code="rule_exists")
    else:
        version = (await latest(session, values["id"], for_update=True)).version + 1
    rule = RiskRule(version=version, status=RuleStatus.DRAFT.value, author=staff.actor, **values)
    session.add(rule)
    try:
        await session.flush()
    except IntegrityError as e:
        raise Conflict("Another version was saved at the same time.", code="state_conflict") from e
    audit.record(
        session,
        actor=staff.actor,
        action="risk.rule_drafted",
        subject_type="risk_rule",
        subject_id=rule.id,
        after={"version": version, "expression": rule.expression, "severity": rule.severity},
    )
    return rule


async def _pending(session: AsyncSession, rule_id: str) -> RiskRule:
    rule = await latest(session, rule_id, for_update=True)
    if rule.status not in (RuleStatus.DRAFT, RuleStatus.SHADOW):
        raise Conflict(
            f"Version {rule.version} is {rule.status}; PUT a new draft first.",
            code="state_conflict",
        )
    return rule


async def shadow(session: AsyncSession, staff: StaffIdentity, rule_id: str) -> RiskRule:
    """Run the latest draft in shadow: scored and recorded on live events, never acting."""
    rule = await _pending(session, rule_id)
    await session.execute(
        sa.update(RiskRule)
        .where(col(RiskRule.id) == rule_id, col(RiskRule.status) == RuleStatus.SHADOW.value)
        .values(status=RuleStatus.RETIRED.value)
        .execution_options(synchronize_session=False)
    )
    rule.status = RuleStatus.SHADOW.value
    audit.record(
        session,
        actor=staff.actor,
        action="risk.rule_shadowed",
        subject_type="risk_rule",
        subject_id=rule_id,
        after={"version": rule.version},
    )
    await session.flush()
    return rule


async def publish(
    session: AsyncSession, staff: StaffIdentity, rule_id: str
) -> tuple[RiskRule, int]:
    """Publish the latest draft or shadow version: a risk lead who is not its author (four eyes,
    binding admins too); makes a new rule-set version."""
    rule = await _pending(session, rule_id)
    if rule.author == staff.actor:
        raise FourEyesViolation("The author of a rule version cannot publish it.")
    await ensure_defaults(session)
    await session.execute(
        sa.update(RiskRule)
        .where(
            col(RiskRule.id) == rule_id,
            col(RiskRule.version) != rule.version,
            col(RiskRule.status).in_([RuleStatus.PUBLISHED.value, RuleStatus.SHADOW.value]),
        )
        .values(status=RuleStatus.RETIRED.value)
        .execution_options(synchronize_session=False)
    )
    rule.status = RuleStatus.PUBLISHED.value
    rule.published_by = staff.actor
    rule.published_at = utcnow()
    await session.flush()
    published = (
        await session.execute(
            select(col(RiskRule.id), col(RiskRule.version)).where(
                col(RiskRule.status) == RuleStatus.PUBLISHED.value
            )
        )
    ).all()
    current = await session.scalar(select(sa.func.max(col(RiskRuleset.version))))
    ruleset = RiskRuleset(
        version=int(current or 0) + 1, rules=dict(published), published_by=staff.actor
    )
    session.add(ruleset)
    try:
        await session.flush()
    except IntegrityError as e:
        raise Conflict("Another rule was published at the same time.", code="state_conflict") from e
    audit.record(
        session,
        actor=staff.actor,
        action="risk.rule_published",
        subject_type="risk_rule",
        subject_id=rule_id,
        before={"author": rule.author},
        after={"version": rule.version, "ruleset_version": ruleset.version},
    )
    return rule, ruleset.version
