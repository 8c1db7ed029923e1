"""The smart-community part of the demo month: a property company, its communities, owners
opened in bulk, monthly fees paid through the bank with a campaign discount."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import msgspec
from sqlmodel import col, select

from gateway.channels.campaigns.schemas import CampaignCreate
from gateway.channels.campaigns.service import create_campaign
from gateway.channels.lifecycle.models import ChannelMilestone
from gateway.clock import travelled_to
from gateway.core_banking import SandboxCore, fund_account
from gateway.customers.service import Channel
from gateway.demo.world import World, at, in_month, onboard
from gateway.errors import GatewayError
from gateway.partners.models import Partner
from gateway.scenarios.community import service
from gateway.scenarios.community.schemas import BillIn, CommunityCreate
from gateway.scenarios.payments import payer_for

NEW_COMMUNITY = ("金地家园", "丰台区南四环西路128号")
COMMUNITIES = (("锦绣花园", "朝阳区望京街8号"), ("翠湖苑", "海淀区西三环北路19号"))


async def community_month(
    world: World, owners_per_community: int, active_per_community: int
) -> None:
    """``active_per_community`` owners opened, billed and paying in each of two communities;
    the rest of the ``owners_per_community`` arrive with a third community mid-month (its
    owners' batch, then a tenth more by their referrals)."""
    partner = await onboard(world, "community", "安居物业服务有限公司")
    with in_month(world):
        async with world.unit() as session:
            await create_campaign(
                session,
                msgspec.convert(
                    {
                        "name": "物业费线上缴纳立减",
                        "scenario": "community",
                        "partner_id": partner.id,
                        "product_type": "payment",
                        "budget": 3_000_00,
                        "subsidy": {
                            "type": "percent",
                            "value": 5,
                            "cap_per_txn": 20_00,
                            "cap_per_customer_month": 20_00,
                        },
                        "starts_at": at(world.first_day, 0).isoformat(),
                        "ends_at": at(world.first_day + timedelta(days=90), 0).isoformat(),
                    },
                    CampaignCreate,
                ),
                world.staff["demo_channel_manager"],
            )
        bills: list[tuple[str, str]] = []
        for n, (name, address) in enumerate(COMMUNITIES):
            households = owners_per_community * 100 // 85  # about 85% of households join
            async with world.unit() as session:
                community = await service.create_community(
                    session,
                    partner.id,
                    CommunityCreate(
                        external_ref=f"demo-{world.seed}-c{n}",
                        name=name,
                        address=address,
                        households=households,
                    ),
                )
            units = [f"{1 + u // 60}-{1 + u % 60:03d}" for u in range(active_per_community)]
            applicants = [world.person(n * 10_000 + u, unit=unit) for u, unit in enumerate(units)]
            channel = Channel(partner.id, "community", community.id, None)
            owners = await world.open_customers(partner, channel, applicants)
            async with world.unit() as session:
                paying = list(zip(units, owners, strict=False))
                for _, owner in paying:
                    payer = await payer_for(session, world.vault, partner.id, owner)
                    await fund_account(
                        session,
                        account_no=payer.account_no,
                        amount=world.rng.randrange(500_00, 5_000_00, 100),
                        reference=f"dep-{partner.id}-{owner}",
                    )
                items = [
                    BillIn(
                        community_id=community.id,
                        unit=unit,
                        customer_id=owner,
                        item="property_fee",
                        period=world.first_day.strftime("%Y-%m"),
                        amount=world.rng.choice((180_00, 240_00, 320_00, 415_50)),
                        due_date=world.first_day + timedelta(days=27),
                    )
                    for unit, owner in paying
                ]
                issued = await service.issue_bills(session, partner.id, items)
                bills.extend((b.id, b.customer_id) for b in issued)
    world.rng.shuffle(bills)
    paying = bills[: len(bills) * 3 // 4]  # three in four owners pay within the month
    for k, (bill_id, owner) in enumerate(paying):
        day = world.month[k * len(world.month) // len(paying)]
        with travelled_to(at(day, 9 + k % 12, k % 60)):
            try:
                async with world.unit() as session:
                    await service.pay_bill(
                        session,
                        world.vault,
                        SandboxCore(session),
                        partner_id=partner.id,
                        bill_id=bill_id,
                        customer_id=owner,
                        reference=f"demo-pay-{bill_id}",
                    )
            except GatewayError:
                continue  # a declined payment leaves the bill unpaid, as in life
    world.note(f"community: {len(bills)} bills, {len(paying)} paid")
    later = (owners_per_community - active_per_community) * len(COMMUNITIES)
    if later > 0:
        world.on_day.setdefault(world.bulk_day, []).append(
            lambda: _new_community(world, partner, later)
        )


async def _referred(world: World, channel: Channel, owners: list[str], n: int, first: int) -> int:
    """Neighbours the owners brought in: one batch whose rows carry an owner's referral code
    (each credited to the owner's ``referred``); how many opened."""
    async with world.sessions() as session:
        codes = list(
            await session.scalars(
                select(ChannelMilestone.referral_code)
                .where(col(ChannelMilestone.customer_id).in_(owners[: len(owners) // 10 + 1]))
                .order_by(col(ChannelMilestone.referral_code))
            )
        )
    if not codes:
        return 0
    neighbours = [
        replace(
            world.person(n * 10_000 + first + k, unit=f"{50 + k // 60}-{1 + k % 60:03d}"),
            referral_code=world.rng.choice(codes),
        )
        for k in range(len(owners) // 10)
    ]
    return len(await world.open_customers(world.partners["community"], channel, neighbours))


async def _new_community(world: World, partner: Partner, owners: int) -> None:
    """The property company takes on a third community and uploads its owners; their
    neighbours follow that evening with the owners' referral codes."""
    with travelled_to(at(world.bulk_day, 9)):
        async with world.unit() as session:
            community = await service.create_community(
                session,
                partner.id,
                CommunityCreate(
                    external_ref=f"demo-{world.seed}-c{len(COMMUNITIES)}",
                    name=NEW_COMMUNITY[0],
                    address=NEW_COMMUNITY[1],
                    households=owners * 100 // 85,
                ),
            )
        channel = Channel(partner.id, "community", community.id, None)
        applicants = [
            world.person(30_000 + u, unit=f"{1 + u // 60}-{1 + u % 60:03d}") for u in range(owners)
        ]
        opened = await world.open_customers(partner, channel, applicants)
    with travelled_to(at(world.bulk_day, 20)):
        referred = await _referred(world, channel, opened, 3, owners)
    world.note(f"community: {NEW_COMMUNITY[0]} {len(opened)} owners, {referred} referred by them")
