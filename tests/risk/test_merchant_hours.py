"""A merchant's features read from sealed-hour sums equal those read from its events (ADR 0023).

Payments and releases are scored through the engine in any time order, so some land in hours an
earlier event already sealed; each event's recorded merchant features are compared with the same
features counted in Python over every event logged before it.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.risk.engine import event_row
from gateway.risk.features import daily_mean, is_night, is_round, local_midnight
from gateway.risk.merchant_hours import HOURS, SEALED, forget
from gateway.risk.models import EventType
from tests.risk.support import near_hours, replays_match, scored_features

Sessions = async_sessionmaker[AsyncSession]
# 00:00 in Shanghai: the streams below cross nights, midnights and hour boundaries.
T0 = datetime(2026, 11, 10, 16, 0, tzinfo=UTC)
KINDS = ("payment", "refund", None)
AMOUNTS = (5_000, 99_900, 100_000, 120_000, 250_000)
# Minutes that put payments on the edges: whole hours, the 15-minute seal, a day, a week.
EDGES = (0, 15, 45, 60, 75, 1_440, 1_455, 10_080, 10_081, 10_095, 11_520)


@dataclass(frozen=True)
class Paid:
    at: datetime
    amount: int
    kind: str | None
    event_type: str = EventType.TRANSACTION

    @property
    def payment(self) -> bool:
        return self.transaction and self.kind is not None and self.kind != "refund"

    @property
    def transaction(self) -> bool:
        return self.event_type == EventType.TRANSACTION


def expected(logged: list[Paid], event: Paid) -> dict[str, Any]:
    """The merchant features of ``event`` counted over the log plus the event itself."""
    if event.event_type == EventType.RELEASE:
        return expected_release(logged, event)
    t = event.at
    mine = [p for p in [*logged, event] if p.transaction]

    def since(delta: timedelta) -> list[Paid]:
        return [p for p in mine if t - delta < p.at <= t]

    day = [p for p in since(timedelta(days=1)) if p.payment]
    volume = sum(p.amount for p in day)
    rounds = sum(p.amount for p in day if is_round(p.amount))
    week = since(timedelta(days=7))
    nights = sum(1 for p in week if is_night(p.at))
    tonight = sum(1 for p in mine if is_night(p.at) and local_midnight(t) <= p.at <= t)
    return {
        "merchant_count_1h": len(since(timedelta(hours=1))),
        "merchant_sum_24h": volume,
        "merchant_round_share_24h": round(rounds / volume, 4) if volume else 0.0,
        "merchant_night_share_7d": round(nights / len(week), 4),
        "merchant_night_txns_today": tonight if is_night(t) else 0,
    }


def expected_release(logged: list[Paid], event: Paid) -> dict[str, Any]:
    """A release's escrow flow: transactions and releases, but refunds, today and over the 30
    days before today; the merchant's first event (the release itself if none came before)."""
    t, midnight = event.at, local_midnight(event.at)
    flow = [p for p in logged if p.kind != "refund"]
    own = event.amount if event.kind != "refund" else 0
    before = sum(p.amount for p in flow if midnight - timedelta(days=30) <= p.at < midnight)
    first = min((p.at for p in logged if p.at <= t), default=t)
    return {
        "merchant_amount_today": own + sum(p.amount for p in flow if midnight <= p.at <= t),
        "merchant_daily_mean_30d": daily_mean(before, first, midnight),
        "merchant_history_days": round((t - first).total_seconds() / 86_400, 3),
    }


async def pay(sessions: Sessions, merchant: str, paid: Paid) -> dict[str, Any]:
    """Score one payment (or release) at ``merchant``; the merchant features it was scored on."""
    features = await scored_features(
        sessions,
        paid.event_type,
        merchant=merchant,
        kind=paid.kind,
        amount=paid.amount,
        occurred_at=paid.at,
    )
    return {k: features[k] for k in expected([], paid)}


minutes = st.one_of(near_hours(200), st.integers(0, 50_000), st.sampled_from(EDGES))
types = st.sampled_from((EventType.TRANSACTION, EventType.TRANSACTION, EventType.RELEASE))
streams = st.lists(
    st.builds(
        lambda minute, amount, kind, event_type: Paid(
            T0 + timedelta(minutes=minute), amount, kind, event_type
        ),
        minutes,
        st.sampled_from(AMOUNTS),
        st.sampled_from(KINDS),
        types,
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
async def test_features_from_sums_equal_the_events_in_any_order(
    sessions: Sessions, stream: list[Paid], in_order: bool
) -> None:
    merchant = f"stn_{secrets.token_hex(6)}"  # examples share a database
    await replays_match(stream, in_order, lambda paid: pay(sessions, merchant, paid), expected)


async def hours_of(sessions: Sessions, merchant: str) -> dict[datetime, tuple[int, int]]:
    async with sessions() as s:
        rows = await s.execute(
            sa.select(HOURS.c.hour, HOURS.c.count, HOURS.c.payment_sum).where(
                HOURS.c.merchant == merchant
            )
        )
        return {r.hour: (r.count, r.payment_sum) for r in rows}


async def sealed_range(sessions: Sessions, merchant: str) -> tuple[datetime, datetime] | None:
    async with sessions() as s:
        row = (
            await s.execute(
                sa.select(SEALED.c.since, SEALED.c.until).where(SEALED.c.merchant == merchant)
            )
        ).one_or_none()
    return None if row is None else (row.since, row.until)


async def test_a_payment_seals_the_hours_before_it_and_reads_their_sums(
    sessions: Sessions,
) -> None:
    for minute in (10, 20, 70):
        await pay(sessions, "stn_s", Paid(T0 + timedelta(minutes=minute), 10_000, "payment"))
    assert await hours_of(sessions, "stn_s") == {}  # nothing sealed two hours in

    at = T0 + timedelta(hours=2, minutes=30)
    got = await pay(sessions, "stn_s", Paid(at, 20_000, "payment"))

    assert await sealed_range(sessions, "stn_s") == (
        T0 + timedelta(hours=1) - timedelta(days=7),
        T0 + timedelta(hours=2),
    )
    assert await hours_of(sessions, "stn_s") == {
        T0: (2, 20_000),
        T0 + timedelta(hours=1): (1, 10_000),
    }
    assert got["merchant_sum_24h"] == 50_000


async def test_a_late_payment_adds_itself_to_its_sealed_hour(sessions: Sessions) -> None:
    await pay(sessions, "stn_l", Paid(T0 + timedelta(minutes=10), 10_000, "payment"))
    await pay(sessions, "stn_l", Paid(T0 + timedelta(hours=3), 10_000, "payment"))
    assert await hours_of(sessions, "stn_l") == {T0: (1, 10_000)}

    late = await pay(sessions, "stn_l", Paid(T0 + timedelta(minutes=50), 30_000, "payment"))

    assert await hours_of(sessions, "stn_l") == {T0: (2, 40_000)}
    assert late["merchant_count_1h"] == 2
    after = await pay(sessions, "stn_l", Paid(T0 + timedelta(hours=3, minutes=5), 0, "refund"))
    assert after["merchant_sum_24h"] == 50_000


async def test_forgetting_a_merchant_makes_the_next_payment_refill_its_week(
    sessions: Sessions,
) -> None:
    await pay(sessions, "stn_f", Paid(T0, 10_000, "payment"))
    await pay(sessions, "stn_f", Paid(T0 + timedelta(hours=2), 10_000, "payment"))
    assert await sealed_range(sessions, "stn_f") is not None
    async with sessions() as s:
        backfilled = {"merchant": "stn_f", "kind": "payment", "amount": 5_000, "occurred_at": T0}
        s.add(event_row(EventType.TRANSACTION, {"partner_id": "ptn_test", **backfilled}))
        await forget(s, ["stn_f", None])
        await s.commit()
    assert await sealed_range(sessions, "stn_f") is None

    got = await pay(sessions, "stn_f", Paid(T0 + timedelta(hours=2, minutes=1), 0, "refund"))

    assert await hours_of(sessions, "stn_f") == {T0: (2, 15_000)}
    assert got["merchant_sum_24h"] == 25_000


@pytest.mark.parametrize("minute", [14, 15])
async def test_an_hour_is_sealed_fifteen_minutes_after_it_ends(
    sessions: Sessions, minute: int
) -> None:
    merchant = f"stn_m{minute}"
    await pay(sessions, merchant, Paid(T0 + timedelta(minutes=30), 10_000, "payment"))
    await pay(sessions, merchant, Paid(T0 + timedelta(hours=1, minutes=minute), 10_000, "payment"))
    filled = await sealed_range(sessions, merchant)
    assert filled is not None and filled[1] == T0 + timedelta(hours=0 if minute < 15 else 1)


@pytest.mark.parametrize(
    "gap",
    [
        timedelta(hours=23, minutes=30),
        timedelta(hours=24),
        timedelta(days=7, minutes=-30),
        timedelta(days=7),
    ],
    ids=["day-first-hour", "day-edge", "week-first-hour", "week-edge"],
)
async def test_a_payment_on_a_windows_first_whole_hour_counts_once(
    sessions: Sessions, gap: timedelta
) -> None:
    """The window's first whole hour comes from its sum, the partial hour before it from the
    events: a payment exactly on that hour's start is in one of them only."""
    merchant = f"stn_{secrets.token_hex(6)}"
    first = Paid(T0 + timedelta(hours=1), 100_000, "payment")  # 01:00 in Shanghai: a night
    later = Paid(first.at + gap, 10_000, "payment")
    assert await pay(sessions, merchant, first) == expected([], first)
    assert await pay(sessions, merchant, later) == expected([first], later)
