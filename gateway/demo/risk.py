"""The demo month's risk work: a little suspicious traffic that the default rules catch (through
the same opening and payment paths as everything else), then the analyst working the queue so
the console shows cases both open and decided.

:func:`suspicious_traffic` is where planted patterns go; each one is ordinary traffic shaped like
fraud, never a row written around the services.
"""

from __future__ import annotations

from dataclasses import replace

from sqlmodel import col, select

from gateway.clock import travelled_to
from gateway.core_banking import SandboxCore
from gateway.customers.service import Channel
from gateway.demo.world import World, at, fund_all
from gateway.errors import GatewayError
from gateway.money import mul_div_half_up
from gateway.risk import cases
from gateway.risk.models import CaseStatus, RiskCase
from gateway.scenarios.community.models import Community
from gateway.scenarios.fuel import service as fuel
from gateway.scenarios.fuel.models import Mandate, Station
from gateway.scenarios.fuel.schemas import FuelTransactionCreate

# The cases the analyst decides, by the rule that opened them: (rule, outcome, actions, note).
DECISIONS = (
    (
        "round_amount_cashout",
        "not_fraud",
        ["release_hold"],
        "整额充值为会员卡正常售卡面额，核实后放行。",
    ),
    (
        "fuel_impossible_volume",
        "fraud",
        ["hold_settlement"],
        "同一车牌半日内多次加油，疑似套取补贴，暂扣结算。",
    ),
)


async def suspicious_traffic(world: World) -> None:
    await _shared_phone(world)
    await _shared_plates(world)


async def _shared_phone(world: World) -> None:
    """A letting agent opens three tenants with its own phone number (``shared_identity``)."""
    partner = world.partners["community"]
    async with world.sessions() as session:
        community = await session.scalar(
            select(Community)
            .where(col(Community.partner_id) == partner.id)
            .order_by(col(Community.external_ref).desc())
            .limit(1)
        )
    if community is None:
        return
    agent_phone = world.person(0).phone
    tenants = [
        replace(world.person(40_000 + n, unit=f"9-{n + 1:03d}"), phone=agent_phone)
        for n in range(3)
    ]
    # on the first afternoon: opening runs the due jobs, and later days' jobs (the channels' daily
    # pass among them) should run day by day with the settlement, as they would have
    with travelled_to(at(world.first_day, 15)):
        await world.open_customers(
            partner, Channel(partner.id, "community", community.id, None), tenants
        )


async def _shared_plates(world: World) -> None:
    """At each station one plate fuelled five times in an afternoon (``fuel_impossible_volume``):
    a fleet card passed between drivers to draw the per-litre subsidy."""
    partner = world.partners["fuel"]
    async with world.sessions() as session:  # sorted here: engines collate Chinese apart
        found = await session.scalars(select(Station).where(col(Station.partner_id) == partner.id))
        stations = sorted(found.all(), key=lambda s: s.name)
        held = await session.scalars(select(Mandate).where(col(Mandate.partner_id) == partner.id))
        mandates = sorted(held.all(), key=lambda m: m.plate_no)[: len(stations)]
    # the fleet keeps its account topped up, so no fueling is declined for want of funds
    await fund_all(
        world, partner.id, [m.customer_id for m in mandates], 1_000_00, 1_000_00 + 100, "fleet"
    )
    for n, (station, mandate) in enumerate(zip(stations, mandates, strict=False)):
        await _fuel_again_and_again(world, partner.id, station.id, mandate.plate_no, n)


async def _fuel_again_and_again(
    world: World, partner_id: str, station_id: str, plate_no: str, n: int
) -> None:
    day = world.month[-4 - n]
    for k in range(5):
        litres_ml = 12_000 + 500 * k
        with travelled_to(at(day, 13 + k, 20)):
            try:
                async with world.unit() as session:
                    await fuel.fuel(
                        session,
                        world.vault,
                        SandboxCore(session),
                        partner_id=partner_id,
                        data=FuelTransactionCreate(
                            station_id=station_id,
                            plate_no=plate_no,
                            pump_no=1 + k,
                            fuel_grade="92",
                            litres_ml=litres_ml,
                            unit_price=768,
                            amount=mul_div_half_up(litres_ml, 768, 1000),
                        ),
                        reference=f"demo-fleet-{partner_id}-{n}-{k}",
                    )
            except GatewayError:
                continue


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
