"""Where incentives meet the risk engine (DESIGN §7, §8): an incentive waits while a case is
open on its customer or the sub-channel that brought it, and a decision with the
``clawback_incentives`` action reverses the incentives of everyone the case's subject covers.

Risk records a clawback as a pending case action; inserting one queues :data:`CLAWBACK_JOB` in
the same flush (the outbox), and the job claws back and marks the action done in one
transaction, so a retried job finds nothing left to do.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapper
from sqlmodel import col, select

from gateway.channels.incentives.service import claw_back, register_hold_check
from gateway.channels.lifecycle.jobs import enqueue_in_flush
from gateway.channels.lifecycle.models import ChannelMilestone
from gateway.jobs import JobContext, job_handler
from gateway.risk.cases import CLAWBACK
from gateway.risk.models import RiskCase, RiskCaseAction

CLAWBACK_JOB = "channels.clawback"


@register_hold_check
async def case_open_on(session: AsyncSession, customer_id: str, sub_channel: str | None) -> bool:
    subjects = [f"customer:{customer_id}", *([f"sub_channel:{sub_channel}"] if sub_channel else [])]
    found = await session.scalar(
        select(sa.func.count())
        .select_from(RiskCase)
        .where(col(RiskCase.open_subject).in_(subjects))
    )
    return bool(found)


async def _covered(session: AsyncSession, case: RiskCase) -> list[str]:
    """The customers a case's subject stands for: itself, or those acquired through it."""
    if case.subject_type == "customer":
        return [case.subject_id]
    column = {"partner": ChannelMilestone.partner_id}.get(case.subject_type)
    where = (
        col(column) == case.subject_id
        if column is not None
        else col(ChannelMilestone.sub_channel) == case.subject_id
    )
    return list((await session.scalars(select(ChannelMilestone.customer_id).where(where))).all())


async def carry_out(session: AsyncSession, action_id: str) -> int:
    """Claw back what the action's case covers; the fen reversed (0 when already done)."""
    action = await session.get(RiskCaseAction, action_id, with_for_update=True)
    if action is None or action.status != "pending":
        return 0
    case = await session.get(RiskCase, action.case_id)
    if case is None:
        return 0
    reason = f"risk case {case.id} confirmed fraud"
    total = 0
    for customer_id in await _covered(session, case):
        total += await claw_back(session, customer_id, reason, at=case.closed_at)
    action.status = "done"
    action.target = {**action.target, "clawed_back": total}
    await session.flush()
    return total


@job_handler(CLAWBACK_JOB)
async def clawback_job(ctx: JobContext, payload: dict[str, Any]) -> None:
    await carry_out(ctx.session, payload["action_id"])


@event.listens_for(RiskCaseAction, "after_insert")
def _clawback_decided(_mapper: Mapper[Any], connection: sa.Connection, target: Any) -> None:
    if target.action == CLAWBACK and target.status == "pending":
        enqueue_in_flush(
            connection, CLAWBACK_JOB, {"action_id": target.id}, f"clawback:{target.id}"
        )
