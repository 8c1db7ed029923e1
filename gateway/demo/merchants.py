"""The fuel and prepaid-card parts of the demo month: a fuel-station chain whose drivers pay
without leaving the car (with a per-litre subsidy), and a fitness chain selling prepaid cards
whose money sits in supervised escrow until it is consumed."""

from __future__ import annotations

from datetime import timedelta

import msgspec

from gateway.channels.campaigns.schemas import CampaignCreate
from gateway.channels.campaigns.service import create_campaign
from gateway.clock import travelled_to
from gateway.core_banking import SandboxCore
from gateway.customers.service import Applicant, Channel
from gateway.demo.world import World, at, fund_all, in_month, onboard
from gateway.errors import GatewayError
from gateway.money import mul_div_half_up
from gateway.partners.models import Partner
from gateway.scenarios.fuel import service as fuel
from gateway.scenarios.fuel.schemas import FuelTransactionCreate, MandateCreate, StationCreate
from gateway.scenarios.stored_value import service as stored_value
from gateway.scenarios.stored_value.schemas import CardCreate, ConsumptionCreate, TopUpCreate

NEW_STATION = "顺义区机场南路9号"
PROVINCES = "京津沪渝冀晋辽吉黑苏浙皖闽赣鲁豫鄂湘粤琼川贵云陕甘青"
PLATE_LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"
FUELINGS_PER_DRIVER = 2


async def fuel_month(world: World, drivers: int, active: int) -> None:
    """``active`` drivers opened at two stations with a mandate, fuelling through the month; the
    rest of the ``drivers`` sign up when a third station opens mid-month."""
    partner = await onboard(world, "fuel", "畅行加油站连锁有限公司")
    rng = world.rng
    with in_month(world):
        async with world.unit() as session:
            stations = [
                await fuel.create_station(
                    session, partner.id, StationCreate(name=name, address=address, pumps=8)
                )
                for name, address in (
                    ("东三环站", "朝阳区东三环中路1号"),
                    ("京顺路站", "顺义区京顺路66号"),
                )
            ]
            await create_campaign(
                session,
                msgspec.convert(
                    {
                        "name": "无感加油每升立减",
                        "scenario": "fuel",
                        "partner_id": partner.id,
                        "product_type": "payment",
                        "budget": 2_000_00,
                        "subsidy": {
                            "type": "per_litre",
                            "value": 30,
                            "cap_per_txn": 15_00,
                            "cap_per_customer_month": 40_00,
                        },
                        "starts_at": at(world.first_day, 0).isoformat(),
                        "ends_at": at(world.first_day + timedelta(days=60), 0).isoformat(),
                    },
                    CampaignCreate,
                ),
                world.staff["demo_channel_manager"],
            )
        plates = [  # unique by construction: the driver's number is the plate's serial
            rng.choice(PROVINCES) + rng.choice(PLATE_LETTERS) + f"{n % 100_000:05d}"
            for n in range(drivers)
        ]
        applicants = [world.person(50_000 + n, plate_no=p) for n, p in enumerate(plates)]
        opened: list[str] = []  # the drivers who fuel this month, half at each station
        regulars = active // len(stations)
        for k, station in enumerate(stations):
            mine = slice(k * regulars, (k + 1) * regulars)
            ids = await world.open_customers(
                partner, Channel(partner.id, "fuel", station.id, None), applicants[mine]
            )
            opened += ids
        plates = plates[: len(stations) * regulars]
        await fund_all(world, partner.id, opened, 1_000_00, 3_000_00)
        async with world.unit() as session:
            for customer, plate in zip(opened, plates, strict=False):
                await fuel.create_mandate(
                    session, partner.id, MandateCreate(customer_id=customer, plate_no=plate)
                )
    if drivers > len(plates):
        world.on_day.setdefault(world.bulk_day, []).append(
            lambda: _new_station(world, partner, applicants[len(plates) :])
        )
    fuelings = 0
    for n in range(len(opened) * FUELINGS_PER_DRIVER):
        k = n % len(opened)
        day = world.month[n * len(world.month) // (len(opened) * FUELINGS_PER_DRIVER)]
        litres_ml = rng.randrange(20_000, 55_000)
        unit_price = rng.choice((768, 812, 865))
        station = stations[k % len(stations)]
        with travelled_to(at(day, 7 + n % 14, n % 60)):
            try:
                async with world.unit() as session:
                    await fuel.fuel(
                        session,
                        world.vault,
                        SandboxCore(session),
                        partner_id=partner.id,
                        data=FuelTransactionCreate(
                            station_id=station.id,
                            plate_no=plates[k],
                            pump_no=1 + n % 8,
                            fuel_grade="92",
                            litres_ml=litres_ml,
                            unit_price=unit_price,
                            amount=mul_div_half_up(litres_ml, unit_price, 1000),
                        ),
                        reference=f"demo-fuel-{partner.id}-{n}",
                    )
                fuelings += 1
            except GatewayError:
                continue
    world.note(f"fuel: {len(opened)} drivers with a mandate, {fuelings} fuelings")


async def _new_station(world: World, partner: Partner, applicants: list[Applicant]) -> None:
    with travelled_to(at(world.bulk_day, 8)):
        async with world.unit() as session:
            station = await fuel.create_station(
                session, partner.id, StationCreate(name="机场路站", address=NEW_STATION, pumps=12)
            )
        channel = Channel(partner.id, "fuel", station.id, None)
        opened = await world.open_customers(partner, channel, applicants)
    world.note(f"fuel: 机场路站 opened with {len(opened)} drivers")


async def stored_value_month(world: World, members: int, active: int) -> None:
    """``active`` members opened with a card they top up and use; the rest of the ``members``
    uploaded mid-month."""
    partner = await onboard(
        world,
        "stored_value",
        "悦动健身管理有限公司",
        {"industry": "fitness", "issuer_class": "brand"},
    )
    rng = world.rng
    with in_month(world):
        opened = await world.open_customers(
            partner,
            Channel(partner.id, "stored_value", None, None),
            [world.person(70_000 + n) for n in range(active)],
        )
        world.upload_later(
            partner,
            Channel(partner.id, "stored_value", "国贸店", None),  # a new club's pre-sale
            [world.person(70_000 + n) for n in range(active, members)],
            "prepaid cards: 国贸店",
        )
        await fund_all(world, partner.id, opened, 2_000_00, 6_000_00)
        async with world.unit() as session:
            cards = [
                await stored_value.create_card(
                    session,
                    partner,
                    msgspec.convert(
                        {"customer_id": c, "named": True, "product": {"type": "stored_value"}},
                        CardCreate,
                    ),
                )
                for c in opened
            ]
    world.stored_value_cards = [c.id for c in cards]
    moved = 0
    for n, card in enumerate(cards):
        day = world.month[n * len(world.month) // len(cards)]
        with travelled_to(at(day, 10 + n % 9)):
            try:
                async with world.unit() as session:
                    await stored_value.top_up(
                        session,
                        world.vault,
                        SandboxCore(session),
                        partner=partner,
                        card_id=card.id,
                        data=TopUpCreate(amount=rng.choice((1_000_00, 2_000_00, 3_000_00))),
                        reference=f"demo-svtop-{partner.id}-{n}",
                    )
                moved += 1
            except GatewayError:
                continue
        for visit in range(rng.randrange(1, 3)):
            later = world.month[min(len(world.month) - 1, world.month.index(day) + 2 + visit * 5)]
            with travelled_to(at(later, 18)):
                try:
                    async with world.unit() as session:
                        await stored_value.consume(
                            session,
                            partner=partner,
                            card_id=card.id,
                            data=ConsumptionCreate(amount=rng.choice((88_00, 128_00, 198_00))),
                            reference=f"demo-svrel-{partner.id}-{n}-{visit}",
                        )
                    moved += 1
                except GatewayError:
                    continue
    world.note(f"prepaid cards: {len(cards)} cards, {moved} top-ups and releases")
