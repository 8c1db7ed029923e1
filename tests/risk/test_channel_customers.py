"""The one-and-done share read from customers' summaries equals the share grouped from the
payments (ADR 0023).

Payments and refunds by a few customers of one sub-channel are scored through the engine in any
time order, over more than a month; each event's recorded share is compared with the same
share grouped in Python over every event logged before it.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.risk.channel_customers import CUSTOMERS, SEALED, merged
from gateway.risk.features import EFFECTIVE_MIN, JUST_OVER
from gateway.risk.models import EventType
from tests.risk.support import near_hours, replays_match, scored_features

Sessions = async_sessionmaker[AsyncSession]
T0 = datetime(2026, 10, 1, 4, 0, tzinfo=UTC)  # noon in Shanghai
DAY, WEEK, MONTH = timedelta(days=1), timedelta(days=7), timedelta(days=30)
CUSTOMERS_ = ("cus_a", "cus_b", "cus_c", "cus_d")
AMOUNTS = (5_000, EFFECTIVE_MIN, 11_000, JUST_OVER, JUST_OVER + 1, 30_000)
KINDS = ("payment", "payment", "refund", None)


@dataclass(frozen=True)
class Paid:
    at: datetime
    customer: str
    amount: int
    kind: str | None

    @property
    def payment(self) -> bool:
        return self.kind is not None and self.kind != "refund"


def expected(logged: list[Paid], event: Paid) -> dict[str, Any]:
    """The share grouped per customer over the month to ``event``, as the engine defines it."""
    t = event.at
    mine = event.payment
    window = [
        p
        for p in logged
        if p.payment and t - MONTH < p.at <= t and not (mine and p.customer == event.customer)
    ]
    by_customer: dict[str, list[Paid]] = {}
    for p in window:
        by_customer.setdefault(p.customer, []).append(p)
    farmed = sum(
        1
        for paid in by_customer.values()
        if len(paid) == 1
        and EFFECTIVE_MIN <= paid[0].amount <= JUST_OVER
        and paid[0].at <= t - WEEK
    )
    customers = len(by_customer) + int(mine)
    return {
        "sub_channel_customers_30d": customers,
        "sub_channel_one_and_done_share": round(farmed / customers, 4) if customers else 0.0,
    }


async def pay(sessions: Sessions, sub_channel: str, paid: Paid) -> dict[str, Any]:
    features = await scored_features(
        sessions,
        EventType.TRANSACTION,
        sub_channel=sub_channel,
        customer_id=paid.customer,
        kind=paid.kind,
        amount=paid.amount,
        occurred_at=paid.at,
    )
    return {k: features[k] for k in expected([], paid)}


minutes = st.one_of(
    near_hours(1_000),
    st.integers(0, 65_000),
    st.sampled_from((0, 10_080, 10_081, 43_200, 43_201, 53_280)),
)
streams = st.lists(
    st.builds(
        lambda minute, customer, amount, kind: Paid(
            T0 + timedelta(minutes=minute), customer, amount, kind
        ),
        minutes,
        st.sampled_from(CUSTOMERS_),
        st.sampled_from(AMOUNTS),
        st.sampled_from(KINDS),
    ),
    min_size=1,
    max_size=14,
)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(stream=streams, in_order=st.booleans())
async def test_the_share_from_summaries_equals_the_payments_in_any_order(
    sessions: Sessions, stream: list[Paid], in_order: bool
) -> None:
    sub_channel = f"sc_{secrets.token_hex(6)}"  # examples share a database
    await replays_match(stream, in_order, lambda paid: pay(sessions, sub_channel, paid), expected)


async def summaries(sessions: Sessions, sub_channel: str) -> dict[str, tuple[Any, ...]]:
    async with sessions() as s:
        rows = await s.execute(
            sa.select(
                CUSTOMERS.c.customer_id,
                CUSTOMERS.c.last_at,
                CUSTOMERS.c.last_amount,
                CUSTOMERS.c.prev_at,
            ).where(CUSTOMERS.c.sub_channel == sub_channel)
        )
        return {r.customer_id: (r.last_at, r.last_amount, r.prev_at) for r in rows}


async def boundary(sessions: Sessions, sub_channel: str) -> datetime | None:
    async with sessions() as s:
        return await s.scalar(sa.select(SEALED.c.until).where(SEALED.c.sub_channel == sub_channel))


async def test_a_farmed_customer_is_read_from_its_summary(sessions: Sessions) -> None:
    """A customer who paid once, just over the threshold, ten days ago, is one of two."""
    await pay(sessions, "sc_farm", Paid(T0, "cus_a", 11_000, "payment"))
    await pay(sessions, "sc_farm", Paid(T0 + timedelta(hours=1), "cus_b", 30_000, "payment"))
    await pay(sessions, "sc_farm", Paid(T0 + DAY, "cus_b", 30_000, "payment"))

    later = T0 + timedelta(days=10)
    got = await pay(sessions, "sc_farm", Paid(later, "cus_c", 0, "refund"))

    assert await boundary(sessions, "sc_farm") == later - timedelta(hours=1)
    assert await summaries(sessions, "sc_farm") == {
        "cus_a": (T0, 11_000, None),
        "cus_b": (T0 + DAY, 30_000, T0 + timedelta(hours=1)),
    }
    assert got == {"sub_channel_customers_30d": 2, "sub_channel_one_and_done_share": 0.5}


async def test_a_payment_before_the_boundary_summarises_afresh_at_its_moment(
    sessions: Sessions,
) -> None:
    await pay(sessions, "sc_late", Paid(T0, "cus_a", 11_000, "payment"))
    await pay(sessions, "sc_late", Paid(T0 + timedelta(days=10), "cus_b", 30_000, "payment"))

    await pay(sessions, "sc_late", Paid(T0 + DAY, "cus_a", 11_000, "payment"))

    assert await boundary(sessions, "sc_late") == T0 + DAY - timedelta(hours=1)
    assert await summaries(sessions, "sc_late") == {"cus_a": (T0, 11_000, None)}
    got = await pay(sessions, "sc_late", Paid(T0 + timedelta(days=10, hours=2), "cus_b", 0, None))
    assert await summaries(sessions, "sc_late") == {
        "cus_a": (T0 + DAY, 11_000, T0),
        "cus_b": (T0 + timedelta(days=10), 30_000, None),
    }
    assert got == {"sub_channel_customers_30d": 2, "sub_channel_one_and_done_share": 0.0}


def test_a_summary_keeps_the_last_two_payments() -> None:
    assert merged(None, [(T0, 5)]) == (T0, 5, None)
    assert merged((T0, 5, None), [(T0 + DAY, 7)]) == (T0 + DAY, 7, T0)
    assert merged((T0 + DAY, 7, T0), [(T0 + WEEK, 9), (T0 + timedelta(hours=1), 3)]) == (
        T0 + WEEK,
        9,
        T0 + DAY,
    )
    assert merged((T0 + WEEK, 9, T0 + DAY), [(T0 + timedelta(days=3), 1)]) == (
        T0 + WEEK,
        9,
        T0 + timedelta(days=3),
    )
