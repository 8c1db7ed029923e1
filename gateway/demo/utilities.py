"""The utilities part of the demo month: an electricity company whose households, opened from an
account batch, look their bill up and pay it through the bank; each payment debits the household
and is written off at the biller (the sandbox biller, in process: :mod:`gateway.demo.outside`)."""

from __future__ import annotations

from gateway.clock import travelled_to
from gateway.core_banking import SandboxCore
from gateway.customers.service import Channel
from gateway.demo.outside import SANDBOX_BILLER
from gateway.demo.world import World, at, fund_all, in_month, onboard
from gateway.errors import GatewayError
from gateway.ratelimit import MemoryLimitStore
from gateway.scenarios.utilities import service
from gateway.scenarios.utilities.client import pool_of
from gateway.scenarios.utilities.models import PaymentStatus


async def utilities_month(world: World, households: int, active: int) -> None:
    """``active`` households opened and paying their bill at the biller; the rest of the
    ``households`` (another district's) uploaded mid-month."""
    partner = await onboard(
        world,
        "utilities",
        "城东供电服务有限公司",
        {"biller_type": "electricity", "api_base_url": SANDBOX_BILLER},
    )
    accounts = [f"EL{world.seed % 1000:03d}-{n:06d}" for n in range(households)]
    with in_month(world):
        opened = await world.open_customers(
            partner,
            Channel(partner.id, "utilities", "东城供电所", None),
            [world.person(110_000 + n, meter=a) for n, a in enumerate(accounts[:active])],
        )
        world.upload_later(
            partner,
            Channel(partner.id, "utilities", "西城供电所", None),
            [world.person(110_000 + n, meter=a) for n, a in enumerate(accounts) if n >= active],
            "utilities: 西城供电所",
        )
        await fund_all(world, partner.id, opened, 300_00, 1_500_00)
    pool, limits = pool_of(world.services), MemoryLimitStore()
    paying = list(zip(opened, accounts, strict=False))[: len(opened) * 9 // 10]
    succeeded = 0
    for n, (customer, account_no) in enumerate(paying):
        day = world.month[n * len(world.month) // len(paying)]
        with travelled_to(at(day, 19 + n % 3, n % 60)):
            try:
                async with world.unit() as session:
                    bill = await service.query_bill(
                        session,
                        pool,
                        limits,
                        partner_id=partner.id,
                        biller_id=partner.id,
                        account_no=account_no,
                    )
                    if bill.bill_key is None:
                        continue
                    payment = await service.pay(
                        session,
                        world.vault,
                        SandboxCore(session),
                        pool,
                        partner_id=partner.id,
                        biller_id=partner.id,
                        account_no=account_no,
                        bill_key=bill.bill_key,
                        amount=bill.amount_due,
                        customer_id=customer,
                        request_ref=f"demo-util-{partner.id}-{n}",
                    )
                succeeded += payment.status == PaymentStatus.SUCCEEDED
            except GatewayError:
                continue
    world.note(f"utilities: {len(opened)} households, {succeeded} bills paid at the biller")
