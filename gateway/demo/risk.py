"""The demo month's risk work: the analyst working the queue the planted patterns
(:mod:`gateway.demo.patterns`) and the month's ordinary traffic filled, so the console shows
cases both open and decided.
"""

from __future__ import annotations

from sqlmodel import col, select

from gateway.demo.world import World
from gateway.risk import cases
from gateway.risk.models import CaseStatus, RiskCase

# The cases the analyst decides, by the rule that opened them: (rule, outcome, actions, note).
DECISIONS: tuple[tuple[str, str, list[str], str], ...] = (
    (
        "escrow_drain",
        "fraud",
        ["hold_settlement"],
        "单日集中售卡后分笔大额划出监管资金，暂扣结算并约谈商户。",
    ),
    (
        "refund_cycling",
        "not_fraud",
        [],
        "车主加油后多次退款为油机故障重复扣款，核实后结案。",
    ),
)


async def work_the_queue(world: World) -> None:
    """The analyst takes the cases of :data:`DECISIONS` and decides them today; the others stay
    open for the console's queue."""
    analyst = world.staff["demo_risk_analyst"]
    decided = 0
    for rule, outcome, actions, note in DECISIONS:
        async with world.sessions() as session:
            case = await session.scalar(
                cases.queue_query(CaseStatus.OPEN.value, rule)
                .order_by(col(RiskCase.created_at))
                .limit(1)
            )
        if case is None:
            continue
        async with world.unit() as session:
            await cases.assign(session, analyst, case.id, None)
        async with world.unit() as session:
            await cases.decide(
                session, analyst, case.id, outcome=outcome, note=note, actions=actions
            )
        decided += 1
    async with world.sessions() as session:
        still_open = len(
            (
                await session.scalars(
                    select(RiskCase.id).where(col(RiskCase.status) != CaseStatus.CLOSED.value)
                )
            ).all()
        )
    world.note(f"risk: {decided} cases decided, {still_open} open in the queue")
