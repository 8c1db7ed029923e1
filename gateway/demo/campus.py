"""The campus part of the demo month: a university whose students and staff are opened from one
account batch (each gets a campus card in the same transaction), top their cards up from their
bank accounts and pay at the canteens, the shop and the print room."""

from __future__ import annotations

from typing import Literal

from sqlmodel import col, select

from gateway.clock import travelled_to
from gateway.core_banking import SandboxCore
from gateway.customers.service import Applicant, Channel
from gateway.demo.world import World, at, fund_all, in_month, onboard
from gateway.errors import GatewayError
from gateway.partners.models import Partner
from gateway.scenarios.campus import cards, service
from gateway.scenarios.campus.models import CampusCard
from gateway.scenarios.campus.schemas import MerchantCreate

MERCHANTS: tuple[tuple[str, str, Literal["canteen", "shop", "service"], tuple[int, ...]], ...] = (
    ("canteen-1", "第一食堂", "canteen", (8_50, 12_00, 15_00, 18_50)),
    ("canteen-2", "清真餐厅", "canteen", (9_00, 13_50, 16_00)),
    ("shop", "教育超市", "shop", (6_80, 23_90, 45_00)),
    ("print", "文印中心", "service", (2_00, 5_50, 12_00)),
)
TOP_UPS = (100_00, 200_00, 300_00)  # under the card's ¥1,000 cap, and never a round ¥1,000+
PAYMENTS_PER_CARD = 2


async def campus_month(world: World, people: int, active: int) -> None:
    """``active`` people opened with a card each, topping up and paying; the rest of the
    ``people`` (the second intake) uploaded mid-month."""
    partner = await onboard(world, "campus", "北方理工大学", {"school_code": "10010"})
    rng = world.rng
    with in_month(world):
        async with world.unit() as session:
            merchants = [
                (
                    await service.create_merchant(
                        session,
                        partner.id,
                        MerchantCreate(external_ref=ref, name=name, type=kind),
                    ),
                    prices,
                )
                for ref, name, kind, prices in MERCHANTS
            ]
        staff_every = 10  # one in ten cardholders is staff
        applicants = [
            world.person(
                90_000 + n,
                role="staff" if n % staff_every == 0 else "student",
                student_no=f"{'T' if n % staff_every == 0 else 'S'}{2026_0000 + n}",
            )
            for n in range(people)
        ]
        opened = await world.open_customers(
            partner, Channel(partner.id, "campus", None, None), applicants[:active]
        )
        world.on_day.setdefault(world.bulk_day, []).append(
            lambda: _second_intake(world, partner, applicants[active:])
        )
        await fund_all(world, partner.id, opened, 500_00, 2_000_00)
        async with world.sessions() as session:
            by_customer = {
                c.customer_id: c.id
                for c in await session.scalars(
                    select(CampusCard).where(
                        col(CampusCard.partner_id) == partner.id,
                        col(CampusCard.customer_id).in_(opened),
                    )
                )
            }
    card_ids = [by_customer[c] for c in opened if c in by_customer]
    world.campus_cards = card_ids
    topped = paid = 0
    for n, card_id in enumerate(card_ids):
        day = world.month[n * len(world.month) // len(card_ids)]
        with travelled_to(at(day, 8, n % 60)):
            try:
                async with world.unit() as session:
                    await cards.top_up(
                        session,
                        world.vault,
                        SandboxCore(session),
                        partner_id=partner.id,
                        card_id=card_id,
                        amount=rng.choice(TOP_UPS),
                        reference=f"demo-cctop-{partner.id}-{n}",
                    )
                topped += 1
            except GatewayError:
                continue
        for k in range(PAYMENTS_PER_CARD):
            later = world.month[min(len(world.month) - 1, world.month.index(day) + k * 3)]
            merchant, prices = merchants[(n + k) % len(merchants)]
            with travelled_to(at(later, 11 + k * 3, (n * 7) % 60)):
                try:
                    async with world.unit() as session:
                        await cards.pay(
                            session,
                            partner_id=partner.id,
                            card_id=card_id,
                            merchant_id=merchant.id,
                            terminal_id=f"POS-{1 + n % 6:02d}",
                            amount=rng.choice(prices),
                            reference=f"demo-ccpay-{partner.id}-{n}-{k}",
                            external_ref=None,
                        )
                    paid += 1
                except GatewayError:
                    continue
    world.note(f"campus: {len(card_ids)} cards, {topped} top-ups, {paid} card payments")


async def _second_intake(world: World, partner: Partner, applicants: list[Applicant]) -> None:
    """Mid-term intake, opened through the registration desk (its own sub-channel)."""
    with travelled_to(at(world.bulk_day, 9)):
        async with world.unit() as session:
            desk = await service.create_merchant(
                session,
                partner.id,
                MerchantCreate(external_ref="intake", name="新生报到处", type="service"),
            )
        channel = Channel(partner.id, "campus", desk.id, None)
        opened = await world.open_customers(partner, channel, applicants)
    world.note(f"campus: second intake, {len(opened)} more cards")
