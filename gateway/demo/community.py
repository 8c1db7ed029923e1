"""The smart-community part of the demo month: a property company, its communities, owners
opened in bulk, monthly fees paid through the bank with a campaign discount."""

from __future__ import annotations

from datetime import timedelta

import msgspec

from gateway.channels.campaigns.schemas import CampaignCreate
from gateway.channels.campaigns.service import create_campaign
from gateway.clock import travelled_to
from gateway.core_banking import SandboxCore, fund_account
from gateway.customers.service import Channel
from gateway.demo.world import World, at, in_month, onboard
from gateway.errors import GatewayError
from gateway.scenarios.community import service
from gateway.scenarios.community.schemas import BillIn, CommunityCreate
from gateway.scenarios.payments import payer_for

COMMUNITIES = (("锦绣花园", "朝阳区望京街8号"), ("翠湖苑", "海淀区西三环北路19号"))


async def community_month(world: World, owners_per_community: int) -> None:
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
            units = [f"{1 + u // 60}-{1 + u % 60:03d}" for u in range(owners_per_community)]
            applicants = [world.person(n * 10_000 + u, unit=unit) for u, unit in enumerate(units)]
            owners = await world.open_customers(
                partner, Channel(partner.id, "community", community.id, None), applicants
            )
            async with world.unit() as session:
                vault = world.vault
                for owner in owners:
                    payer = await payer_for(session, vault, partner.id, owner)
                    deposit = world.rng.randrange(500_00, 5_000_00, 100)
                    await fund_account(
                        session,
                        account_no=payer.account_no,
                        amount=deposit,
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
                    for unit, owner in zip(units, owners, strict=False)
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
