"""The fraud patterns of the risk generator (:mod:`gateway.risk.simulate`), planted in the demo
month as the partners' traffic would carry them: openings through account batches, payments,
refunds, top-ups and releases through the scenario services, each at the moment the generator
gives it. The generator decides the shape (who, when, how much); this module only maps its
subjects onto the demo's partners, stations, communities, campus shop and cards, so the
default rules meet the same evidence here as in the detection report.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace

from sqlmodel import col, select

from gateway.clock import SHANGHAI, travelled_to
from gateway.core_banking import SandboxCore
from gateway.customers.service import Channel
from gateway.demo.world import World, at, fund_all
from gateway.errors import GatewayError
from gateway.risk.simulate import Event, Opening, Scenario, generate
from gateway.risk.simulate.population import (
    CASH_OUT_RING,
    ESCROW_DRAIN,
    FUEL_PRICE,
    IDENTITY_FARM,
    INCENTIVE_FARM,
    REFUND_CYCLING,
    ROUND_AMOUNT_MERCHANT,
)
from gateway.scenarios.campus import cards
from gateway.scenarios.campus.models import CARD_BALANCE_CAP, CampusCard, CampusMerchant
from gateway.scenarios.community import service as community
from gateway.scenarios.community.models import Community
from gateway.scenarios.community.schemas import BillIn, CommunityCreate
from gateway.scenarios.fuel import service as fuel
from gateway.scenarios.fuel.models import Station
from gateway.scenarios.fuel.schemas import FuelTransactionCreate, MandateCreate
from gateway.scenarios.stored_value import service as stored_value
from gateway.scenarios.stored_value.schemas import ConsumptionCreate, TopUpCreate

POPULATION = 200  # the generator's background: only its planted steps are replayed
FLEET_LIMIT = 5_000_00  # colluding plates carry a fleet mandate's limits


async def plant_patterns(world: World) -> None:
    scenario = generate(world.seed, POPULATION, instances=1, days=world.days, start=world.first_day)
    planted: dict[str, list[Event | Opening]] = defaultdict(list)
    for step in scenario.steps:
        if step.pattern is not None:
            planted[step.pattern].append(step)
    await _cash_out_ring(world, scenario, planted[CASH_OUT_RING])
    await _refund_cycling(world, scenario, planted[REFUND_CYCLING])
    await _incentive_farm(world, scenario, planted[INCENTIVE_FARM])
    await _identity_farm(world, planted[IDENTITY_FARM])
    await _escrow_drain(world, planted[ESCROW_DRAIN])
    await _round_amount_merchant(world, planted[ROUND_AMOUNT_MERCHANT])
    world.note(f"fraud patterns planted: {', '.join(p for p in planted if planted[p])}")


def _events(steps: list[Event | Opening]) -> list[Event]:
    return [s for s in steps if isinstance(s, Event)]


def _openings_of(scenario: Scenario, customer_ids: list[str]) -> list[Opening]:
    wanted = set(customer_ids)
    return [s for s in scenario.steps if isinstance(s, Opening) and s.customer_id in wanted]


async def _stations(world: World) -> list[Station]:
    partner = world.partners["fuel"]
    async with world.sessions() as session:  # sorted here: engines collate Chinese apart
        found = await session.scalars(select(Station).where(col(Station.partner_id) == partner.id))
        return sorted(found.all(), key=lambda s: s.name)


async def _drivers(
    world: World, station: Station, openings: list[Opening], plates: dict[str, str]
) -> dict[str, str]:
    """Open the generator's drivers at ``station`` with fleet mandates for their plates; the
    generator's customer id → the demo's."""
    partner = world.partners["fuel"]
    applicants = [
        replace(o.applicant, attributes={"plate_no": plates[o.customer_id]}) for o in openings
    ]
    with travelled_to(at(world.first_day, 16)):
        opened = await world.open_customers(
            partner, Channel(partner.id, "fuel", station.id, None), applicants
        )
        mapped = dict(zip([o.customer_id for o in openings], opened, strict=False))
        await fund_all(
            world, partner.id, list(mapped.values()), 10_000_00, 10_000_00 + 100, "fleet"
        )
        async with world.unit() as session:
            for theirs, ours in mapped.items():
                await fuel.create_mandate(
                    session,
                    partner.id,
                    MandateCreate(
                        customer_id=ours,
                        plate_no=plates[theirs],
                        tank_capacity_l=50,
                        per_txn_limit=FLEET_LIMIT,
                        daily_limit=FLEET_LIMIT * 4,
                    ),
                )
    return mapped


async def _fuel(
    world: World, station: Station, event: Event, plate: str, reference: str
) -> str | None:
    litres_ml = int(event.fields.get("litres_ml") or event.fields["amount"] * 1000 // FUEL_PRICE)
    with travelled_to(event.at):
        try:
            async with world.unit() as session:
                _, txn = await fuel.fuel(
                    session,
                    world.vault,
                    SandboxCore(session),
                    partner_id=world.partners["fuel"].id,
                    data=FuelTransactionCreate(
                        station_id=station.id,
                        plate_no=plate,
                        pump_no=3,
                        fuel_grade="92",
                        litres_ml=litres_ml,
                        unit_price=FUEL_PRICE,
                        amount=fuel.fuel_amount(litres_ml, FUEL_PRICE),
                    ),
                    reference=reference,
                )
                return txn.id
        except GatewayError:
            return None


async def _cash_out_ring(world: World, scenario: Scenario, steps: list[Event | Opening]) -> None:
    """Four plates fuelling again and again in one night at one station, fills above the tank
    (``fuel_impossible_volume``, ``night_burst``)."""
    events = _events(steps)
    ring = list(dict.fromkeys(e.fields["customer_id"] for e in events))
    plates = {e.fields["customer_id"]: e.fields["plate_no"] for e in events}
    station = (await _stations(world))[0]
    mapped = await _drivers(world, station, _openings_of(scenario, ring), plates)
    for n, event in enumerate(events):
        if event.fields["customer_id"] in mapped:
            ref = f"demo-ring-{world.partners['fuel'].id}-{n}"
            await _fuel(world, station, event, plates[event.fields["customer_id"]], ref)


async def _refund_cycling(world: World, scenario: Scenario, steps: list[Event | Opening]) -> None:
    """One driver pays at a station and has it refunded, four times in an afternoon
    (``refund_cycling``; the generator's resident, on the scenario that refunds)."""
    events = _events(steps)
    if not events:
        return
    theirs = events[0].fields["customer_id"]
    plate = "京Q" + f"{world.seed % 100_000:05d}"
    station = (await _stations(world))[-1]
    mapped = await _drivers(world, station, _openings_of(scenario, [theirs]), {theirs: plate})
    if theirs not in mapped:
        return
    partner_id = world.partners["fuel"].id
    paid: str | None = None
    for n, event in enumerate(events):
        if event.fields["kind"] != "refund":
            paid = await _fuel(world, station, event, plate, f"demo-cycle-{partner_id}-{n}")
            continue
        if paid is None:
            continue
        with travelled_to(event.at):
            try:
                async with world.unit() as session:
                    txn = await fuel.get_fuel_transaction(session, partner_id, paid)
                    await fuel.refund(
                        session,
                        world.vault,
                        SandboxCore(session),
                        partner_id=partner_id,
                        txn_id=paid,
                        amount=txn[1].amount,
                        reference=f"demo-cycle-refund-{partner_id}-{n}",
                    )
            except GatewayError:
                continue


async def _community_rows(
    world: World, community_id: str, openings: list[Opening], unit_prefix: str
) -> list[str]:
    partner = world.partners["community"]
    applicants = [
        replace(o.applicant, attributes={"unit": f"{unit_prefix}-{n + 1:03d}"})
        for n, o in enumerate(openings)
    ]
    with travelled_to(openings[0].at):
        return await world.open_customers(
            partner, Channel(partner.id, "community", community_id, None), applicants
        )


async def _incentive_farm(world: World, scenario: Scenario, farmed: list[Event | Opening]) -> None:
    """A new community whose customers mostly pay one bill just over the effective threshold and
    go quiet, beside the few real residents who keep paying and so have it scored again a week
    later (``incentive_farming``)."""
    if not farmed:
        return
    farm_id = next(s.channel.sub_channel for s in farmed if isinstance(s, Opening))
    steps = [
        s
        for s in scenario.steps
        if (isinstance(s, Opening) and s.channel.sub_channel == farm_id)
        or (isinstance(s, Event) and s.fields.get("sub_channel") == farm_id)
    ]
    openings = [s for s in steps if isinstance(s, Opening)]
    partner = world.partners["community"]
    with travelled_to(openings[0].at):
        async with world.unit() as session:
            farm = await community.create_community(
                session,
                partner.id,
                CommunityCreate(
                    external_ref=f"demo-{world.seed}-farm",
                    name="新城家园",
                    address="大兴区兴华大街2号",
                    households=len(openings),
                ),
            )
    opened = await _community_rows(world, farm.id, openings, "1")
    mapped = dict(zip([o.customer_id for o in openings], opened, strict=False))
    await fund_all(world, partner.id, opened, 5_000_00, 5_000_00 + 100, "farm")
    for n, event in enumerate(_events(steps)):
        customer = mapped.get(event.fields["customer_id"])
        if customer is None or event.fields["kind"] != "payment":
            continue
        with travelled_to(event.at):
            try:
                async with world.unit() as session:
                    (bill,) = await community.issue_bills(
                        session,
                        partner.id,
                        [
                            BillIn(
                                community_id=farm.id,
                                unit=f"1-{n + 1:03d}",
                                customer_id=customer,
                                item="parking_fee",
                                period=world.first_day.strftime("%Y-%m"),
                                amount=event.fields["amount"],
                                due_date=world.month[-1],
                            )
                        ],
                    )
                    await community.pay_bill(
                        session,
                        world.vault,
                        SandboxCore(session),
                        partner_id=partner.id,
                        bill_id=bill.id,
                        customer_id=customer,
                        reference=f"demo-farm-{bill.id}",
                    )
            except GatewayError:
                continue


async def _identity_farm(world: World, steps: list[Event | Opening]) -> None:
    """One batch into an established community: many ID numbers behind three phones, all in one
    hour (``shared_identity``, ``opening_spike``); uploaded on its day, between settlements."""
    openings = [s for s in steps if isinstance(s, Opening)]
    if not openings:
        return
    async with world.sessions() as session:
        established = await session.scalar(
            select(Community.id).where(
                col(Community.partner_id) == world.partners["community"].id,
                col(Community.external_ref) == f"demo-{world.seed}-c0",
            )
        )
    if established is None:
        return

    async def upload() -> None:
        await _community_rows(world, established, openings, "20")

    day = openings[0].at.astimezone(SHANGHAI).date()
    world.on_day.setdefault(day, []).append(upload)


async def _escrow_drain(world: World, steps: list[Event | Opening]) -> None:
    """The fitness chain pushes a day of package sales, then releases the escrow in large
    tranches (``escrow_drain``): each tranche consumed from the cards just topped up."""
    events = _events(steps)
    partner = world.partners["stored_value"]
    card_ids = world.stored_value_cards[: sum(e.fields["kind"] == "top_up" for e in events)]
    balances: dict[str, int] = {}
    tops = iter(card_ids)
    for n, event in enumerate(events):
        with travelled_to(event.at):
            if event.event_type == "transaction":
                card_id = next(tops, None)
                if card_id is None:
                    continue
                try:
                    async with world.unit() as session:
                        card, _ = await stored_value.top_up(
                            session,
                            world.vault,
                            SandboxCore(session),
                            partner=partner,
                            card_id=card_id,
                            data=TopUpCreate(amount=event.fields["amount"]),
                            reference=f"demo-drain-top-{partner.id}-{n}",
                        )
                    balances[card_id] = card.balance
                except GatewayError:
                    continue
                continue
            await _release(world, balances, event.fields["amount"], f"demo-drain-{partner.id}-{n}")


async def _release(world: World, balances: dict[str, int], amount: int, reference: str) -> None:
    partner = world.partners["stored_value"]
    for k, (card_id, balance) in enumerate(list(balances.items())):
        if amount <= 0:
            return
        part = min(amount, balance)
        if part <= 0:
            continue
        try:
            async with world.unit() as session:
                card, _ = await stored_value.consume(
                    session,
                    partner=partner,
                    card_id=card_id,
                    data=ConsumptionCreate(amount=part),
                    reference=f"{reference}-{k}",
                )
            balances[card_id] = card.balance
            amount -= part
        except GatewayError:
            continue


async def _round_amount_merchant(world: World, steps: list[Event | Opening]) -> None:
    """Students 'buy' whole hundreds at the campus shop one afternoon: cash taken out of the
    card (``round_amount_cashout``), each as much as a card can hold."""
    partner = world.partners["campus"]
    events = _events(steps)
    async with world.sessions() as session:
        shop = await session.scalar(
            select(CampusMerchant.id).where(
                col(CampusMerchant.partner_id) == partner.id,
                col(CampusMerchant.external_ref) == "shop",
            )
        )
    if shop is None:
        return
    for n, (event, card_id) in enumerate(zip(events, world.campus_cards, strict=False)):
        amount = min(event.fields["amount"], CARD_BALANCE_CAP)
        with travelled_to(event.at):
            try:
                async with world.unit() as session:
                    card = await session.get(CampusCard, card_id)
                    room = amount - (card.balance if card else 0)
                    if room > 0:
                        await cards.top_up(
                            session,
                            world.vault,
                            SandboxCore(session),
                            partner_id=partner.id,
                            card_id=card_id,
                            amount=room,
                            reference=f"demo-round-top-{partner.id}-{n}",
                        )
                async with world.unit() as session:
                    await cards.pay(
                        session,
                        partner_id=partner.id,
                        card_id=card_id,
                        merchant_id=shop,
                        terminal_id="POS-09",
                        amount=amount,
                        reference=f"demo-round-{partner.id}-{n}",
                        external_ref=None,
                    )
            except GatewayError:
                continue
