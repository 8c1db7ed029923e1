"""The rule lifecycle: drafts, shadow, four-eyes publishing, rule-set versions, seeding.

The default rules are seeded on first use (the first assessment or rule listing that finds no
published rule set), as version 1 published by ``system``: rule content is data the risk team owns,
not schema, and seeding from code keeps every fresh database — a new deployment, a test database
that was truncated — consistent with :data:`gateway.risk.rules.DEFAULT_RULES` (ADR 0012). Inserts
ignore conflicts, so two replicas seeding at once leave one copy.
"""

from __future__ import annotations

import time
import weakref
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session
from sqlmodel import col, select

from gateway import audit
from gateway.db import insert_once, table_of, utcnow
from gateway.errors import Conflict, Forbidden, NotFound
from gateway.risk.models import RiskRule, RiskRuleset, RuleStatus, Severity
from gateway.risk.rules import DEFAULT_RULES, CompiledRule, compile_rule, validate
from gateway.staff.service import StaffIdentity

SYSTEM = "system"
DEFAULT_WEIGHT = 10


class FourEyesViolation(Forbidden):
    code = "four_eyes_violation"


async def ensure_defaults(session: AsyncSession) -> None:
    """Seed the default rules as rule set 1 unless a rule set exists."""
    if await session.scalar(select(sa.func.max(col(RiskRuleset.version)))) is not None:
        return
    dialect = session.get_bind().dialect.name
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
    await session.execute(insert_once(dialect, table_of(RiskRule)), rows)
    await session.execute(
        insert_once(dialect, table_of(RiskRuleset)),
        {
            "version": 1,
            "rules": {r["id"]: 1 for r in DEFAULT_RULES},
            "published_by": SYSTEM,
            "created_at": now,
        },
    )


CHECK_SECONDS = 1.0
_CHANGED = "risk_rules_changed"


@dataclass(slots=True)
class _Live:
    """One engine's live rules as of a rule-set version, and when that version was last checked."""

    version: int
    created_at: Any
    rules: dict[str, list[CompiledRule]]
    checked: float


class LiveRules:
    """The compiled published and shadow rules, per process and per engine (ADR 0020).

    Every rule change that alters what runs live (shadow, publish, and the retirements they
    make) writes a new rule-set version, so the latest version row names the live rules. An
    entry is trusted for :data:`CHECK_SECONDS`, then re-checked with one primary-key read of the
    latest version; a change committed by this process clears every entry at once, so it acts on
    the next assessment here, and on other replicas within ``CHECK_SECONDS``.
    """

    def __init__(self) -> None:
        self._entries: weakref.WeakKeyDictionary[Any, _Live] = weakref.WeakKeyDictionary()

    async def get(self, session: AsyncSession, event_type: str) -> tuple[int, list[CompiledRule]]:
        engine, now = session.get_bind(), time.monotonic()
        live = self._entries.get(engine)
        if live is None or now - live.checked >= CHECK_SECONDS:
            latest = (
                await session.execute(
                    sa.select(col(RiskRuleset.version), col(RiskRuleset.created_at))
                    .order_by(col(RiskRuleset.version).desc())
                    .limit(1)
                )
            ).first()
            if latest is None:
                await ensure_defaults(session)
                latest = (
                    await session.execute(
                        sa.select(col(RiskRuleset.version), col(RiskRuleset.created_at))
                        .order_by(col(RiskRuleset.version).desc())
                        .limit(1)
                    )
                ).one()
            version, created_at = int(latest[0]), latest[1]
            if live is None or (live.version, live.created_at) != (version, created_at):
                live = _Live(version, created_at, await _load(session), now)
            live.checked = now
            self._entries[engine] = live
        return live.version, live.rules.get(str(event_type), [])

    def clear(self) -> None:
        self._entries.clear()


# One per process: every rule change this process commits must reach it, whichever app or
# session made the change.
live_rules = LiveRules()


@event.listens_for(Session, "after_commit")
def _forget_changed(session: Session) -> None:
    if session.info.pop(_CHANGED, False):
        live_rules.clear()


@event.listens_for(Session, "after_rollback")
def _drop_note(session: Session) -> None:
    session.info.pop(_CHANGED, None)


async def _load(session: AsyncSession) -> dict[str, list[CompiledRule]]:
    """The published and shadow rules of every event type, compiled."""
    rows = (
        await session.execute(
            sa.select(
                col(RiskRule.event_type),
                col(RiskRule.id),
                col(RiskRule.version),
                col(RiskRule.status),
                col(RiskRule.severity),
                col(RiskRule.weight),
                col(RiskRule.subject),
                col(RiskRule.expression),
            )
            .where(col(RiskRule.status).in_([RuleStatus.PUBLISHED.value, RuleStatus.SHADOW.value]))
            .order_by(col(RiskRule.id), col(RiskRule.version))
        )
    ).all()
    rules: dict[str, list[CompiledRule]] = {}
    for r in rows:
        rules.setdefault(r[0], []).append(
            compile_rule(
                rule_id=r[1],
                version=r[2],
                mode=r[3],
                severity=r[4],
                weight=r[5],
                subject=r[6],
                expression=r[7],
            )
        )
    return rules


async def active(session: AsyncSession, event_type: str) -> tuple[int, list[CompiledRule]]:
    """The current rule-set version and the published and shadow rules of an event type."""
    return await live_rules.get(session, event_type)


async def _new_ruleset(session: AsyncSession, staff: StaffIdentity) -> int:
    """A new rule-set version naming the published rules: made by every change to what runs
    live, so decisions name the rules they ran under and processes see the change."""
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
        raise Conflict("Another rule was changed at the same time.", code="state_conflict") from e
    session.sync_session.info[_CHANGED] = True
    return ruleset.version


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
    await session.flush()
    version = await _new_ruleset(session, staff)
    audit.record(
        session,
        actor=staff.actor,
        action="risk.rule_shadowed",
        subject_type="risk_rule",
        subject_id=rule_id,
        after={"version": rule.version, "ruleset_version": version},
    )
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
    version = await _new_ruleset(session, staff)
    audit.record(
        session,
        actor=staff.actor,
        action="risk.rule_published",
        subject_type="risk_rule",
        subject_id=rule_id,
        before={"author": rule.author},
        after={"version": rule.version, "ruleset_version": version},
    )
    return rule, version
