"""Business time: Shanghai dates, and the demo's travel in time staying in its own context."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta

from gateway.clock import business_date_of, now, shift_process, travelled_to
from gateway.db import utcnow


def test_a_day_closes_at_midnight_in_shanghai() -> None:
    assert business_date_of(datetime(2026, 11, 1, 15, 59, tzinfo=UTC)) == date(2026, 11, 1)
    assert business_date_of(datetime(2026, 11, 1, 16, 0, tzinfo=UTC)) == date(2026, 11, 2)


async def test_travel_shifts_only_its_own_context() -> None:
    then = datetime(2026, 1, 15, 2, tzinfo=UTC)
    seen: list[datetime] = []

    async def elsewhere() -> None:
        seen.append(utcnow())

    outside = asyncio.create_task(elsewhere())  # started before the travel: keeps real time
    with travelled_to(then):
        assert abs(utcnow() - then) < timedelta(seconds=5)
        assert business_date_of(now()) == date(2026, 1, 15)
        await outside
    assert abs(seen[0] - datetime.now(UTC)) < timedelta(seconds=5)
    assert abs(utcnow() - datetime.now(UTC)) < timedelta(seconds=5)


def test_a_shifted_process_runs_business_time_ahead_and_travel_still_lands() -> None:
    then = datetime(2026, 1, 15, 2, tzinfo=UTC)
    shift_process(8 * 3600)
    try:
        assert abs(utcnow() - (datetime.now(UTC) + timedelta(hours=8))) < timedelta(seconds=5)
        with travelled_to(then):  # the demo travels to a moment, whatever the shift
            assert abs(utcnow() - then) < timedelta(seconds=5)
    finally:
        shift_process(0)
    assert abs(utcnow() - datetime.now(UTC)) < timedelta(seconds=5)
