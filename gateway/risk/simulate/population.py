"""A seeded population of customers and merchants, with fraud patterns planted in it (ADR 0016).

:func:`generate` returns a :class:`Scenario`: the steps the gateway would have scored, in time
order — account openings (an :class:`~gateway.customers.service.Applicant` through a
:class:`~gateway.customers.service.Channel`, as the opening endpoints see them) and the
``transaction`` / ``release`` events the scenario adapters hand to :func:`gateway.risk.assess` —
and the ground truth: which subjects (the case subject a rule names) carry which pattern.

The normal population sits near each rule's threshold without crossing it: families share a
phone (two ID numbers, never three), drivers sometimes fuel twice a day or at night, residents
get the odd refund, stored-value merchants sell packages and release steadily for 30 days before
the window. That history is written to the event log as the engine logs an event but not
scored: it is the world as the window finds it (a merchant's first weeks would otherwise be
judged against a 30-day mean that is mostly empty). Everything comes from one
``random.Random(seed)``; the same seed gives the same scenario, ids included.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from gateway.clock import SHANGHAI
from gateway.customers.service import Applicant, Channel
from gateway.demo.identities import fake_mobile, fake_resident_id
from gateway.risk.models import EventType, SubjectType

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # the alphabet of gateway.ids
_PLATE_CHARS = "ABCDEFGHJKLMNPQRSTUVWXYZ0123456789"
_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
_GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂"
FUEL_PRICE = 760  # fen per litre
PACKAGES = (88_800, 128_000, 168_000, 268_000)  # stored-value packages: never whole hundreds
HISTORY_DAYS = 30  # stored-value merchants trade this long before the window opens
DEFAULT_DAYS = 21
DEFAULT_START = date(2026, 11, 1)

CASH_OUT_RING = "cash_out_ring"
INCENTIVE_FARM = "incentive_farm"
IDENTITY_FARM = "identity_farm"
ESCROW_DRAIN = "escrow_drain"
ROUND_AMOUNT_MERCHANT = "round_amount_merchant"
REFUND_CYCLING = "refund_cycling"

# Each pattern and the default rules meant to catch it (DESIGN §8): every default rule has one.
PATTERN_RULES: dict[str, tuple[str, ...]] = {
    CASH_OUT_RING: ("fuel_impossible_volume", "night_burst"),
    INCENTIVE_FARM: ("incentive_farming",),
    IDENTITY_FARM: ("shared_identity", "opening_spike"),
    ESCROW_DRAIN: ("escrow_drain",),
    ROUND_AMOUNT_MERCHANT: ("round_amount_cashout",),
    REFUND_CYCLING: ("refund_cycling",),
}
PATTERNS = tuple(PATTERN_RULES)

Subject = tuple[str, str]  # (subject type, id) as a rule hit names it


@dataclass(frozen=True, slots=True)
class Opening:
    """One account-opening row; rows sharing a ``channel.batch_id`` are one batch."""

    at: datetime
    channel: Channel
    applicant: Applicant
    customer_id: str
    pattern: str | None = None


@dataclass(frozen=True, slots=True)
class Event:
    """A ``transaction`` or ``release`` event, with the fields its adapter passes to ``assess``."""

    at: datetime
    event_type: str
    fields: dict[str, Any]
    pattern: str | None = None

    def assessed(self) -> dict[str, Any]:
        return self.fields | {"occurred_at": self.at}


Step = Opening | Event


@dataclass
class Scenario:
    seed: int
    customers: int
    start: datetime
    end: datetime
    steps: list[Step]
    truth: dict[str, list[Subject]]  # pattern → the subjects that carry it
    history: list[Event] = field(default_factory=list)  # before ``start``: logged, not scored

    def planted(self) -> dict[Subject, str]:
        return {s: p for p, subjects in self.truth.items() for s in subjects}

    def counts(self) -> Counter[str]:
        return Counter("opening" if isinstance(s, Opening) else s.event_type for s in self.steps)


@dataclass
class Customer:
    """A generated customer: opened in the window (an :class:`Opening`) or a merchant's earlier
    card holder; ``plate``/``tank_l`` for drivers, ``card`` for students."""

    id: str
    scenario: str
    partner_id: str
    sub_channel: str
    applicant: Applicant
    opened_day: int
    plate: str = ""
    tank_l: int = 0
    card: str = ""


@dataclass
class _Builder:
    rng: random.Random
    start: datetime
    days: int
    steps: list[Step] = field(default_factory=list)
    truth: dict[str, list[Subject]] = field(default_factory=lambda: {p: [] for p in PATTERNS})
    fuelings: Counter[tuple[str, date]] = field(default_factory=Counter)
    phones: list[str] = field(default_factory=list)
    id_numbers: set[str] = field(default_factory=set)

    def id(self, prefix: str) -> str:
        return f"{prefix}_" + "".join(self.rng.choice(_ALPHABET) for _ in range(26))

    def at(self, day: int, hour: float = 0.0) -> datetime:
        """A moment ``day`` days after the window opens, at ``hour`` local (Shanghai) time."""
        local = self.start.astimezone(SHANGHAI) + timedelta(days=day, hours=hour)
        return local.astimezone(UTC)

    def daytime(self, day: int) -> datetime:
        return self.at(day, self.rng.uniform(7.0, 22.0))

    def applicant(self, phone: str | None = None) -> Applicant:
        name = self.rng.choice(_SURNAMES) + "".join(
            self.rng.choice(_GIVEN) for _ in range(self.rng.choice((1, 2)))
        )
        phone = phone or fake_mobile(self.rng)
        id_number = fake_resident_id(self.rng)
        while id_number in self.id_numbers:  # one person opens once
            id_number = fake_resident_id(self.rng)
        self.id_numbers.add(id_number)
        return Applicant(
            name=name,
            id_number=id_number,
            phone=phone,
            context={"device_id": self.id("dev")},
        )

    def family_phone(self) -> str | None:
        """A phone already used by one applicant (a household sharing it), 5 % of the time."""
        if self.phones and self.rng.random() < 0.05:
            return self.phones.pop(self.rng.randrange(len(self.phones)))
        return None

    def customer(
        self,
        scenario: str,
        partner_id: str,
        sub_channel: str,
        day: int,
        *,
        pattern: str | None = None,
        batch_id: str | None = None,
        at: datetime | None = None,
        phone: str | None = None,
    ) -> Customer:
        shared = phone or (self.family_phone() if pattern is None else None)
        applicant = self.applicant(shared)
        if shared is None and pattern is None:
            self.phones.append(applicant.phone)
        customer = Customer(self.id("cus"), scenario, partner_id, sub_channel, applicant, day)
        channel = Channel(partner_id, scenario, sub_channel, batch_id=batch_id)
        moment = at or self.daytime(day)
        self.steps.append(Opening(moment, channel, applicant, customer.id, pattern))
        return customer

    def payment(
        self,
        customer: Customer,
        at: datetime,
        amount: int,
        *,
        merchant: str | None = None,
        kind: str = "payment",
        pattern: str | None = None,
        **details: Any,
    ) -> None:
        fields = {
            "partner_id": customer.partner_id,
            "scenario": customer.scenario,
            "kind": kind,
            "customer_id": customer.id,
            "sub_channel": customer.sub_channel,
            "merchant": merchant or customer.sub_channel,
            "amount": amount,
            "context": customer.applicant.context,
            **details,
        }
        self.steps.append(Event(at, EventType.TRANSACTION.value, fields, pattern))

    def fueling(
        self, driver: Customer, station: str, at: datetime, litres_ml: int, pattern: str | None
    ) -> None:
        today = at.astimezone(SHANGHAI).date()
        count = self.fuelings[(driver.plate, today)]
        self.fuelings[(driver.plate, today)] += 1
        self.payment(
            driver,
            at,
            litres_ml * FUEL_PRICE // 1000,
            merchant=station,
            pattern=pattern,
            sub_channel=station,
            station_id=station,
            plate_no=driver.plate,
            litres_ml=litres_ml,
            tank_capacity_l=driver.tank_l,
            fuelings_today=count,
        )

    def release(
        self,
        merchant: str,
        customer: Customer | None,
        at: datetime,
        amount: int,
        pattern: str | None = None,
    ) -> None:
        fields = {
            "partner_id": merchant,
            "scenario": "stored_value",
            "kind": "release",
            "merchant": merchant,
            "customer_id": customer.id if customer else None,
            "amount": amount,
        }
        self.steps.append(Event(at, EventType.RELEASE.value, fields, pattern))

    def plate(self) -> str:
        return (
            "京"
            + self.rng.choice("ABCEFGHJKLMNPQ")
            + "".join(self.rng.choice(_PLATE_CHARS) for _ in range(5))
        )


@dataclass
class _World:
    fuel: str
    community: str
    campus: str
    stations: list[str]
    communities: list[str]
    campuses: list[str]
    shops: dict[str, list[str]]  # campus → its merchants (canteens first, then shops)
    merchants: list[str]  # stored-value merchants (each its own partner)
    customers: list[Customer] = field(default_factory=list)


def _world(b: _Builder, customers: int, instances: int) -> _World:
    def many(prefix: str, count: int) -> list[str]:
        return [b.id(prefix) for _ in range(count)]

    campuses = many("cmp", max(1 + instances, customers // 600))
    return _World(
        fuel=b.id("ptn"),
        community=b.id("ptn"),
        campus=b.id("ptn"),
        stations=many("stn", max(2 + instances, customers // 120)),
        communities=many("cmt", max(2 + instances, customers // 120)),
        campuses=campuses,
        shops={c: many("cmr", 5) for c in campuses},
        merchants=many("ptn", max(2 + instances, customers // 50)),
    )


def _drive(b: _Builder, w: _World, driver: Customer) -> None:
    """Fuel every 3–6 days, mostly at the home station; now and then at night or twice a day."""
    rng = b.rng
    day = driver.opened_day + rng.randrange(0, 3)
    while day < b.days:
        hour = rng.uniform(0.5, 4.5) if rng.random() < 0.05 else rng.uniform(7.0, 22.0)
        station = driver.sub_channel if rng.random() < 0.8 else rng.choice(w.stations)
        litres = int(driver.tank_l * 1000 * rng.uniform(0.45, 0.95))
        b.fueling(driver, station, b.at(day, hour), litres, None)
        if rng.random() < 0.08 and hour < 20:  # a top-up before a long drive
            later = b.at(day, hour + rng.uniform(1.0, 3.0))
            b.fueling(driver, station, later, int(driver.tank_l * 1000 * 0.2), None)
        day += rng.randrange(3, 7)


def _reside(b: _Builder, resident: Customer, *, extra: tuple[int, ...] = ()) -> None:
    """Two to five bills over the window (fees, parking, repairs); 3 % refunded once."""
    rng = b.rng
    days = sorted(rng.randrange(resident.opened_day, b.days) for _ in range(rng.randint(2, 5)))
    for day in [*days, *extra]:
        at, amount = b.daytime(day), rng.randrange(3_000, 60_000)
        b.payment(resident, at, amount)
        if rng.random() < 0.03:
            b.payment(resident, at + timedelta(hours=rng.uniform(1, 3)), amount, kind="refund")


def _study(b: _Builder, w: _World, student: Customer) -> None:
    """Canteen meals on about a third of the days; a campus shop now and then."""
    rng, canteens, shops = b.rng, w.shops[student.sub_channel][:3], w.shops[student.sub_channel][3:]
    for day in range(student.opened_day, b.days):
        if rng.random() < 0.3:
            for _ in range(rng.randint(1, 2)):
                hour = rng.choice((rng.uniform(11.3, 13.0), rng.uniform(17.0, 19.0)))
                b.payment(
                    student,
                    b.at(day, hour),
                    rng.randrange(600, 2_500),
                    merchant=rng.choice(canteens),
                    card_id=student.card,
                )
        if rng.random() < 0.05:
            b.payment(
                student,
                b.at(day, rng.uniform(12.0, 21.0)),
                rng.randrange(500, 9_900),
                merchant=rng.choice(shops),
                card_id=student.card,
            )


def _holders(b: _Builder, merchant: str, count: int) -> list[Customer]:
    """Card holders a stored-value merchant had before the window (no opening in it)."""
    return [
        Customer(b.id("cus"), "stored_value", merchant, merchant, b.applicant(), -HISTORY_DAYS)
        for _ in range(count)
    ]


def _trade(b: _Builder, merchant: str, holders: list[Customer]) -> None:
    """30 days before the window and through it: a day's lessons released, packages sold. A
    merchant sells one package every other day; the customers opened in the window add about
    one every third day (one merchant per 50 customers), so no normal day reaches 5× the mean."""
    rng = b.rng
    for day in range(-HISTORY_DAYS, b.days):
        for _ in range(rng.randint(1, 2)):
            b.release(merchant, rng.choice(holders), b.daytime(day), rng.randrange(40_000, 120_000))
        if rng.random() < 0.5:
            b.payment(rng.choice(holders), b.daytime(day), rng.choice(PACKAGES), kind="top_up")


def _normal(b: _Builder, w: _World, count: int) -> None:
    """``count`` customers opened one by one over the first two weeks, then living normally."""
    rng, last_opening = b.rng, max(1, b.days - 8)
    for merchant in w.merchants:
        _trade(b, merchant, _holders(b, merchant, 8))
    for _ in range(count):
        draw, day = rng.random(), rng.randrange(0, last_opening)
        if draw < 0.35:
            customer = b.customer("fuel", w.fuel, rng.choice(w.stations), day)
            customer.plate, customer.tank_l = b.plate(), rng.choice((45, 50, 55, 60, 70))
            _drive(b, w, customer)
        elif draw < 0.7:
            customer = b.customer("community", w.community, rng.choice(w.communities), day)
            _reside(b, customer)
        elif draw < 0.9:
            customer = b.customer("campus", w.campus, rng.choice(w.campuses), day)
            customer.card = b.id("ccd")
            _study(b, w, customer)
        else:
            merchant = rng.choice(w.merchants)
            customer = b.customer("stored_value", merchant, merchant, day)
            b.payment(customer, b.daytime(day), rng.choice(PACKAGES), kind="top_up")
        w.customers.append(customer)


# --- the planted patterns (instance ``i`` uses the i-th station, community, campus, merchant) ---


def _cash_out_ring(b: _Builder, w: _World, i: int) -> Subject:
    """Four colluding plates at one station, in the small hours of one night: each fuels four
    times, some fills larger than the tank (fuel_impossible_volume, night_burst)."""
    rng, station = b.rng, w.stations[i]
    ring = []
    for _ in range(4):
        driver = b.customer("fuel", w.fuel, station, rng.randrange(0, 4))
        driver.plate, driver.tank_l = b.plate(), 50
        b.fueling(driver, station, b.daytime(driver.opened_day + 2), 30_000, None)
        ring.append(driver)
    night = b.days - 2
    for n in range(16):
        driver = ring[n % 4]
        litres = rng.choice((38_000, 46_000, 58_000, 66_000))
        b.fueling(driver, station, b.at(night, 0.5 + n * 0.25), litres, CASH_OUT_RING)
    return SubjectType.MERCHANT.value, station


def _incentive_farm(b: _Builder, w: _World, i: int) -> Subject:
    """A new community where 15 of 18 customers paid once, just over the ¥100 that makes them
    effective, and were never seen again; the three real residents keep paying."""
    rng, community = b.rng, b.id("cmt")
    for _ in range(3):
        resident = b.customer("community", w.community, community, 1)
        _reside(b, resident, extra=(b.days - 3, b.days - 1))
    for n in range(15):
        farmed = b.customer("community", w.community, community, 1 + n // 4, pattern=INCENTIVE_FARM)
        at = b.daytime(farmed.opened_day) + timedelta(hours=rng.uniform(1, 20))
        b.payment(farmed, at, rng.randrange(10_000, 12_000), pattern=INCENTIVE_FARM)
    return SubjectType.SUB_CHANNEL.value, community


def _identity_farm(b: _Builder, w: _World, i: int) -> Subject:
    """One batch of 30 rows into an established community: 24 ID numbers behind 3 phones
    (shared_identity), all in one hour where it opens about one an hour (opening_spike)."""
    rng, community = b.rng, w.communities[i]
    _reside(b, b.customer("community", w.community, community, 0))  # its history: 7+ days
    phones = [fake_mobile(rng) for _ in range(3)]
    rows = [phones[n % 3] for n in range(24)] + [None] * 6
    rng.shuffle(rows)
    batch, start = b.id("acb"), b.at(b.days - 2, 10.0)
    for n, phone in enumerate(rows):
        at = start + timedelta(seconds=2 * n)
        b.customer(
            "community",
            w.community,
            community,
            b.days - 2,
            pattern=IDENTITY_FARM,
            batch_id=batch,
            at=at,
            phone=phone or fake_mobile(rng),
        )
    return SubjectType.SUB_CHANNEL.value, community


def _escrow_drain(b: _Builder, w: _World, i: int) -> Subject:
    """A stored-value merchant with 30 quiet days pushes a sale and releases the escrow in
    three large tranches on its last day (escrow_drain)."""
    rng, merchant = b.rng, w.merchants[i]
    holders = _holders(b, merchant, 20)
    day = b.days - 1
    for holder in holders:
        b.payment(
            holder,
            b.at(day, rng.uniform(9.0, 16.0)),
            rng.choice(PACKAGES),
            kind="top_up",
            pattern=ESCROW_DRAIN,
        )
    for n in range(3):
        b.release(
            merchant, None, b.at(day, 17.0 + n), 800_000 + rng.randrange(0, 9_999), ESCROW_DRAIN
        )
    return SubjectType.MERCHANT.value, merchant


def _round_amount_merchant(b: _Builder, w: _World, i: int) -> Subject:
    """A campus shop where eight students 'buy' ¥1,000–3,000 in whole hundreds one afternoon:
    cash taken out of the campus card (round_amount_cashout)."""
    rng, campus = b.rng, w.campuses[i]
    shop = w.shops[campus][3]
    students = [c for c in w.customers if c.sub_channel == campus][:8]
    while len(students) < 8:
        student = b.customer("campus", w.campus, campus, 0)
        student.card = b.id("ccd")
        students.append(student)
    day = b.days - 4
    for n, student in enumerate(students):
        b.payment(
            student,
            b.at(day, 14.0 + n * 0.4),
            rng.randrange(10, 31) * 10_000,
            merchant=shop,
            card_id=student.card,
            pattern=ROUND_AMOUNT_MERCHANT,
        )
    return SubjectType.MERCHANT.value, shop


def _refund_cycling(b: _Builder, w: _World, i: int) -> Subject:
    """One resident pays the community and has it refunded four times in an afternoon."""
    rng, community = b.rng, w.communities[-1 - i]
    resident = b.customer("community", w.community, community, rng.randrange(0, 5))
    _reside(b, resident)
    day = b.days - 5
    for n in range(4):
        at, amount = b.at(day, 13.0 + n), rng.randrange(30_000, 90_000)
        b.payment(resident, at, amount, pattern=REFUND_CYCLING)
        b.payment(
            resident, at + timedelta(minutes=10), amount, kind="refund", pattern=REFUND_CYCLING
        )
    return SubjectType.CUSTOMER.value, resident.id


_PLANTERS = {
    CASH_OUT_RING: _cash_out_ring,
    INCENTIVE_FARM: _incentive_farm,
    IDENTITY_FARM: _identity_farm,
    ESCROW_DRAIN: _escrow_drain,
    ROUND_AMOUNT_MERCHANT: _round_amount_merchant,
    REFUND_CYCLING: _refund_cycling,
}


def default_instances(customers: int) -> int:
    """One planted instance of each pattern per 2,000 customers (at least one)."""
    return max(1, customers // 2_000)


def generate(
    seed: int,
    customers: int,
    *,
    instances: int | None = None,
    days: int = DEFAULT_DAYS,
    start: date = DEFAULT_START,
) -> Scenario:
    """A normal population of ``customers`` with ``instances`` of every pattern planted in it,
    over ``days`` days from local midnight of ``start`` (stored-value merchants trade for 30
    days before it). Deterministic in ``seed``."""
    if days < 10:
        raise ValueError("the window needs 10 days: baselines want 7 days of history")
    count = default_instances(customers) if instances is None else instances
    rng = random.Random(seed)  # noqa: S311  (a reproducible simulation, not a secret)
    b = _Builder(rng, datetime.combine(start, datetime.min.time(), SHANGHAI), days)
    world = _world(b, customers, count)
    _normal(b, world, customers)
    for i in range(count):
        for pattern, plant in _PLANTERS.items():
            b.truth[pattern].append(plant(b, world, i))
    steps = sorted(b.steps, key=lambda s: s.at)  # stable: a batch keeps its row order
    opens = b.at(0)
    history = [s for s in steps if isinstance(s, Event) and s.at < opens]
    window = [s for s in steps if s.at >= opens]
    return Scenario(seed, customers, opens, b.at(days), window, b.truth, history)
