"""Cases: one open case per subject, the queue, take-next, decisions and their actions.

One open case per subject is held by the database: ``open_subject`` (``type:id``) is unique and
cleared when the case closes, and a hit inserts with ``ON CONFLICT DO NOTHING`` then attaches to
whichever case is open. Take-next claims a case with a conditional UPDATE (``assignee IS NULL``),
after ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so two analysts never get the same case.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from gateway import audit
from gateway.db import insert_once, table_of, utcnow
from gateway.errors import BusinessRuleViolation, Conflict, Forbidden, NotFound
from gateway.ids import new_id
from gateway.partners.models import PartnerStatus
from gateway.partners.service import change_status, get_partner
from gateway.risk import holds, ruleset
from gateway.risk.models import (
    CaseStatus,
    RiskCase,
    RiskCaseAction,
    RiskDecision,
    RiskEvent,
    RiskHit,
    RiskSnooze,
    SubjectType,
    SuspendedSubChannel,
)
from gateway.staff.models import Role
from gateway.staff.service import StaffIdentity

ACTIONS = (
    "release_hold",
    "hold_settlement",
    "clawback_incentives",
    "suspend_sub_channel",
    "suspend_partner",
)
# The incentive work consumes these rows (status ``pending``) and marks them ``done``.
CLAWBACK = "clawback_incentives"


class ActionNotApplicable(BusinessRuleViolation):
    code = "action_not_applicable"


async def open_or_attach(
    session: AsyncSession,
    *,
    subject_type: str,
    subject_id: str,
    partner_id: str | None,
    weight: int,
) -> RiskCase:
    """The subject's open case with its priority raised by ``weight``, or a new one."""
    key = f"{subject_type}:{subject_id}"
    now = utcnow()
    await session.execute(
        insert_once(session.get_bind().dialect.name, table_of(RiskCase), "open_subject"),
        {
            "id": new_id("cas"),
            "subject_type": subject_type,
            "subject_id": subject_id,
            "open_subject": key,
            "partner_id": partner_id,
            "status": CaseStatus.OPEN.value,
            "priority": 0,
            "hits": 0,
            "created_at": now,
            "updated_at": now,
        },
    )
    await session.execute(
        sa.update(RiskCase)
        .where(col(RiskCase.open_subject) == key)
        .values(
            priority=col(RiskCase.priority) + weight, hits=col(RiskCase.hits) + 1, updated_at=now
        )
        .execution_options(synchronize_session=False)
    )
    case = await session.scalar(
        select(RiskCase)
        .where(col(RiskCase.open_subject) == key)
        .execution_options(populate_existing=True)
    )
    if case is None:
        raise RuntimeError("the open case vanished while attaching a hit")
    return case


def queue_query(status: str | None, rule: str | None) -> Any:
    stmt = select(RiskCase)
    if status:
        stmt = stmt.where(col(RiskCase.status) == status)
    if rule:
        stmt = stmt.where(
            sa.exists().where(
                col(RiskHit.case_id) == col(RiskCase.id), col(RiskHit.rule_id) == rule
            )
        )
    return stmt


async def get_case(session: AsyncSession, case_id: str, *, for_update: bool = False) -> RiskCase:
    case = await session.get(RiskCase, case_id, with_for_update=for_update)
    if case is None:
        raise NotFound("No such case.")
    return case


async def take_next(session: AsyncSession, staff: StaffIdentity) -> RiskCase | None:
    """The highest-priority unassigned open case, assigned to the caller; None if none."""
    postgres = session.get_bind().dialect.name == "postgresql"
    for _ in range(20):
        stmt = (
            select(col(RiskCase.id))
            .where(col(RiskCase.status) == CaseStatus.OPEN.value, col(RiskCase.assignee).is_(None))
            .order_by(col(RiskCase.priority).desc(), col(RiskCase.id))
            .limit(1)
        )
        if postgres:
            stmt = stmt.with_for_update(skip_locked=True)
        case_id = await session.scalar(stmt)
        if case_id is None:
            return None
        claimed = await session.execute(
            sa.update(RiskCase)
            .where(col(RiskCase.id) == case_id, col(RiskCase.assignee).is_(None))
            .values(assignee=staff.actor, status=CaseStatus.IN_REVIEW.value, updated_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        if claimed.rowcount == 1:  # type: ignore[attr-defined]
            _audit(session, staff, "risk.case_taken", case_id, {"assignee": staff.actor})
            return await session.get(RiskCase, case_id, populate_existing=True)
    return None


async def assign(
    session: AsyncSession, staff: StaffIdentity, case_id: str, assignee: str | None
) -> RiskCase:
    case = await get_case(session, case_id, for_update=True)
    if case.status == CaseStatus.CLOSED:
        raise Conflict("The case is closed.", code="case_closed")
    before = case.assignee
    case.assignee = assignee or staff.actor
    case.status = CaseStatus.IN_REVIEW.value
    case.updated_at = utcnow()
    _audit(session, staff, "risk.case_assigned", case_id, {"assignee": case.assignee}, before)
    await session.flush()
    return case


async def related_partner(session: AsyncSession, case: RiskCase) -> str | None:
    if case.subject_type == SubjectType.PARTNER:
        return case.subject_id
    return case.partner_id


async def decide(
    session: AsyncSession,
    staff: StaffIdentity,
    case_id: str,
    *,
    outcome: str,
    note: str | None,
    actions: Sequence[str],
) -> RiskCase:
    """Close a case with an outcome and carry out its actions (each one recorded and audited)."""
    if "suspend_partner" in actions and not staff.has(Role.RISK_LEAD):
        raise Forbidden("suspend_partner needs the risk_lead role.", code="role_required")
    case = await get_case(session, case_id, for_update=True)
    if case.status == CaseStatus.CLOSED:
        raise Conflict("The case is already closed.", code="case_closed")
    done: list[dict[str, Any]] = []
    for action in dict.fromkeys(actions):
        target = await _act(session, staff, case, action, note)
        session.add(
            RiskCaseAction(
                id=new_id("rac"),
                case_id=case.id,
                action=action,
                status="pending" if action == CLAWBACK else "done",
                target=target,
                actor=staff.actor,
            )
        )
        done.append({"action": action, **target})
    before = {"status": case.status, "assignee": case.assignee}
    now = utcnow()
    case.status = CaseStatus.CLOSED.value
    case.open_subject = None
    case.outcome = outcome
    case.note = note
    case.closed_by = staff.actor
    case.closed_at = case.updated_at = now
    if case.assignee is None:
        case.assignee = staff.actor
    _audit(
        session,
        staff,
        "risk.case_decided",
        case.id,
        {"outcome": outcome, "note": note, "actions": done},
        before,
    )
    await session.flush()
    return case


async def _act(
    session: AsyncSession, staff: StaffIdentity, case: RiskCase, action: str, note: str | None
) -> dict[str, Any]:
    if action == "release_hold":
        return {"released": await holds.release(session, case.id, staff.actor)}
    if action == "hold_settlement":
        return {"held": await holds.keep(session, case.id)}
    if action == CLAWBACK:
        return {"subject": {"type": case.subject_type, "id": case.subject_id}}
    partner_id = await related_partner(session, case)
    if partner_id is None:
        raise ActionNotApplicable(f"{action} needs a case that names a partner.")
    if action == "suspend_partner":
        partner = await get_partner(session, partner_id)
        if partner.status == PartnerStatus.ACTIVE:
            await change_status(
                session, partner_id, staff, "suspend", note or f"risk case {case.id}"
            )
        return {"partner_id": partner_id}
    if case.subject_type != SubjectType.SUB_CHANNEL:
        raise ActionNotApplicable("suspend_sub_channel needs a sub-channel case.")
    if await session.get(SuspendedSubChannel, (partner_id, case.subject_id)) is None:
        session.add(
            SuspendedSubChannel(
                partner_id=partner_id,
                sub_channel=case.subject_id,
                case_id=case.id,
                created_by=staff.actor,
            )
        )
    return {"partner_id": partner_id, "sub_channel": case.subject_id}


def _audit(
    session: AsyncSession,
    staff: StaffIdentity,
    action: str,
    case_id: str,
    after: dict[str, Any],
    before: Any = None,
) -> None:
    audit.record(
        session,
        actor=staff.actor,
        action=action,
        subject_type="risk_case",
        subject_id=case_id,
        before=before if isinstance(before, dict) else ({"assignee": before} if before else None),
        after=after,
    )


async def evidence(session: AsyncSession, case_ids: Sequence[str]) -> dict[str, list[Any]]:
    """Per case: its hits with the event each fired on (rule, values, event, transaction)."""
    if not case_ids:
        return {}
    rows = (
        await session.execute(
            select(RiskHit, RiskDecision, RiskEvent)
            .join(RiskDecision, col(RiskDecision.id) == col(RiskHit.decision_id))
            .join(RiskEvent, col(RiskEvent.id) == col(RiskDecision.event_id))
            .where(col(RiskHit.case_id).in_(case_ids))
            .order_by(col(RiskHit.created_at), col(RiskHit.decision_id))
        )
    ).all()
    out: dict[str, list[Any]] = {c: [] for c in case_ids}
    for hit, decision, event in rows:
        out[str(hit.case_id)].append((hit, decision, event))
    return out


async def pending_clawbacks(session: AsyncSession) -> list[RiskCaseAction]:
    """The hook for incentives: confirmed-fraud clawbacks not yet carried out."""
    rows = await session.scalars(
        select(RiskCaseAction).where(
            col(RiskCaseAction.action) == CLAWBACK, col(RiskCaseAction.status) == "pending"
        )
    )
    return list(rows.all())


async def snooze(
    session: AsyncSession,
    staff: StaffIdentity,
    *,
    rule_id: str,
    subject_type: str,
    subject_id: str,
    until: Any,
    reason: str,
) -> RiskSnooze:
    """Silence a rule for one subject until a moment (its hits are still recorded)."""
    await ruleset.versions(session, rule_id)  # 404 for an unknown rule
    if until <= utcnow():
        raise BusinessRuleViolation("A snooze must end in the future.", code="snooze_in_past")
    entry = RiskSnooze(
        id=new_id("rsz"),
        rule_id=rule_id,
        subject_type=subject_type,
        subject_id=subject_id,
        until=until,
        reason=reason,
        created_by=staff.actor,
    )
    session.add(entry)
    audit.record(
        session,
        actor=staff.actor,
        action="risk.rule_snoozed",
        subject_type="risk_rule",
        subject_id=rule_id,
        after={
            "subject": {"type": subject_type, "id": subject_id},
            "until": until.isoformat(),
            "reason": reason,
        },
    )
    await session.flush()
    return entry
