"""What every part of the demo shares: the database, the services, a seeded random source, the
month being replayed, demo staff and partners, and the helpers to open customers and run jobs.

The demo goes through the gateway's own services (the same ones the API calls), committing as a
request would, and replays its month with :func:`gateway.clock.travelled_to`, so every row,
journal and settlement carries the day it would have carried in production.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col, select

from gateway.clock import SHANGHAI, travelled_to
from gateway.core_banking import fund_account
from gateway.customers.batches import create_batch
from gateway.customers.models import AccountBatchItem
from gateway.customers.service import Applicant, Channel
from gateway.demo.identities import (
    fake_account_no,
    fake_mobile,
    fake_resident_id,
    fake_uscc,
    keypair,
)
from gateway.demo.outside import webhook_url
from gateway.jobs.worker import Worker
from gateway.partners import service as partners
from gateway.partners.models import Partner
from gateway.partners.schemas import ApplicationCreate
from gateway.pii import PiiVault
from gateway.scenarios.payments import payer_for
from gateway.settings import Settings
from gateway.staff.models import Role, StaffUser
from gateway.staff.service import StaffIdentity, add_user

PASSWORD = "demo-password"  # noqa: S105  (printed for the demo; demo users are demo_*)
STAFF: dict[str, tuple[Role, ...]] = {
    "demo_ops_maker": (Role.OPS_MAKER,),
    "demo_ops_checker": (Role.OPS_CHECKER,),
    "demo_risk_analyst": (Role.RISK_ANALYST,),
    "demo_risk_lead": (Role.RISK_LEAD, Role.RISK_ANALYST),
    "demo_channel_manager": (Role.CHANNEL_MANAGER,),
    "demo_finance": (Role.FINANCE,),
    "demo_auditor": (Role.AUDITOR,),
    "demo_admin": (Role.ADMIN,),
}
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英"
Progress = Callable[[str], None]


@dataclass
class World:
    settings: Settings
    sessions: async_sessionmaker[AsyncSession]
    vault: PiiVault
    services: dict[str, Any]
    rng: random.Random
    seed: int
    first_day: date
    days: int
    note: Progress
    staff: dict[str, StaffIdentity] = field(default_factory=dict)
    partners: dict[str, Partner] = field(default_factory=dict)
    # cards of the customers who trade in the month, in opening order (the patterns use them)
    stored_value_cards: list[str] = field(default_factory=list)
    campus_cards: list[str] = field(default_factory=list)
    # work that opens customers late in the month, done on its day between the settlements (the
    # workers run every job due by then, and the days before are already worked off)
    on_day: dict[date, list[Callable[[], Awaitable[None]]]] = field(default_factory=dict)
    opened: Counter[str] = field(default_factory=Counter)  # customers opened, by scenario

    @property
    def bulk_day(self) -> date:
        """When the partners upload the bulk of their customers: late enough that none of them
        is 14 days inactive by the month's end (no moment of truth to deliver for each), into
        sub-channels of their own (a busy upload into an established one is an opening spike)."""
        return self.first_day + timedelta(days=self.days // 2 + 1)

    def upload_later(
        self, partner: Partner, channel: Channel, applicants: Sequence[Applicant], label: str
    ) -> None:
        """Open ``applicants`` on :attr:`bulk_day`, between that day's settlements."""

        async def upload() -> None:
            with travelled_to(at(self.bulk_day, 11)):
                opened = await self.open_customers(partner, channel, applicants)
            self.note(f"{label}: {len(opened)} more opened on {self.bulk_day}")

        self.on_day.setdefault(self.bulk_day, []).append(upload)

    @property
    def month(self) -> list[date]:
        return [self.first_day + timedelta(days=n) for n in range(self.days)]

    @asynccontextmanager
    async def unit(self) -> AsyncIterator[AsyncSession]:
        """One unit of work, committed like a request."""
        async with self.sessions() as session:
            yield session
            await session.commit()

    async def run_jobs(self) -> None:
        """Run every due job, claiming many at a time (one worker: nothing to share them with)."""
        worker = Worker(self.sessions, self.settings, self.services, batch_size=200)
        await worker.run_until_idle(max_rounds=100_000)

    def person(self, n: int, **attributes: Any) -> Applicant:
        rng = self.rng
        name = rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2))))
        return Applicant(
            name=name,
            id_number=fake_resident_id(rng),
            phone=fake_mobile(rng),
            external_ref=f"demo-{self.seed}-{n}",
            attributes=attributes,
            context={"device_id": f"dev-{rng.randrange(10**8):08d}", "ip": f"10.{n % 250}.0.1"},
        )

    async def open_customers(
        self, partner: Partner, channel: Channel, applicants: Sequence[Applicant]
    ) -> list[str]:
        """Open a batch through the workers; the customer ids of the opened rows, in order."""
        async with self.unit() as session:
            batch = await create_batch(session, self.vault, partner, channel, applicants)
        await self.run_jobs()
        async with self.sessions() as session:
            found = await session.scalars(
                select(AccountBatchItem.customer_id)
                .where(
                    col(AccountBatchItem.batch_id) == batch.id,
                    col(AccountBatchItem.customer_id).is_not(None),
                )
                .order_by(col(AccountBatchItem.row))
            )
            opened = [c for c in found if c is not None]
        self.opened[channel.scenario] += len(opened)
        return opened


async def fund_all(
    world: World, partner_id: str, customers: list[str], low: int, high: int, why: str = "dep"
) -> None:
    """A deposit of ``low`` … ``high`` (whole yuan) into each customer's sandbox account
    (``why`` and the partner name the deposit: the sandbox deposits once per reference, and a
    second demo with the same seed meets the same people again)."""
    async with world.unit() as session:
        for customer in customers:
            payer = await payer_for(session, world.vault, partner_id, customer)
            await fund_account(
                session,
                account_no=payer.account_no,
                amount=world.rng.randrange(low, high, 100),
                reference=f"{why}-{partner_id}-{customer}",
            )


def at(day: date, hour: int, minute: int = 0) -> datetime:
    """A moment of a business day, Shanghai time, as UTC."""
    return datetime.combine(day, time(hour, minute), SHANGHAI).astimezone(UTC)


async def ensure_staff(world: World) -> None:
    async with world.unit() as session:
        for username, roles in STAFF.items():
            user = await session.scalar(
                select(StaffUser).where(col(StaffUser.username) == username)
            )
            if user is None:
                user = await add_user(session, username, [r.value for r in roles], PASSWORD)
            world.staff[username] = StaffIdentity(user.id, username, frozenset(user.roles))


def _application(
    world: World, name: str, scenarios: list[str], profile: dict[str, Any]
) -> ApplicationCreate:
    rng = world.rng
    _, public = keypair()
    return msgspec.convert(
        {
            "legal_name": name,
            "uscc": fake_uscc(rng),
            "legal_representative": world.person(0).name,
            "contact": {
                "name": "业务联系人",
                "phone": fake_mobile(rng),
                "email": "ops@example.com",
            },
            "scenarios": scenarios,
            "cooperation_mode": rng.choice(
                ["customer_referral", "joint_operation", "most_favored"]
            ),
            "settlement_account": {"account_name": name, "account_no": fake_account_no(rng)},
            "jwks": {"keys": [public]},
            "webhook_url": webhook_url(scenarios[0]),
            "scenario_profile": profile,
        },
        ApplicationCreate,
    )


async def onboard(
    world: World, scenario: str, name: str, profile: dict[str, Any] | None = None
) -> Partner:
    """Apply, review (maker) and approve (another checker): the four-eyes path of the console."""
    data = _application(world, name, [scenario], {scenario: profile} if profile else {})
    maker, checker = world.staff["demo_ops_maker"], world.staff["demo_ops_checker"]
    async with world.unit() as session:
        application = await partners.submit_application(session, world.vault, data)
    async with world.unit() as session:
        await partners.review(session, application.id, maker, "approve", "资料齐全，建议通过")
    async with world.unit() as session:
        partner, _ = await partners.approve(
            session, world.settings, application.id, checker, "同意合作"
        )
    world.partners[scenario] = partner
    return partner


async def onboard_others(world: World) -> None:
    """One application waiting for review and one rejected, so the queue is not empty."""
    maker, checker = world.staff["demo_ops_maker"], world.staff["demo_ops_checker"]
    async with world.unit() as session:
        await partners.submit_application(
            session, world.vault, _application(world, "城西便民服务有限公司", ["community"], {})
        )
        rejected = await partners.submit_application(
            session, world.vault, _application(world, "快付科技有限公司", ["community"], {})
        )
    async with world.unit() as session:
        await partners.review(session, rejected.id, maker, "reject", "经营范围与场景不符")
    async with world.unit() as session:
        await partners.reject(session, rejected.id, checker, "经营范围与场景不符")


def in_month(world: World, hour: int = 10) -> Any:
    """Travel to a morning of the first day of the month (set-up happens then)."""
    return travelled_to(at(world.first_day, hour))
