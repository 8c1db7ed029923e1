"""Parallel fuelings on PostgreSQL: one plate never passes its daily limit, and a per-litre
budget is spent exactly, never overdrawn (DESIGN §7, §9)."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import pytest
from litestar import Litestar

from tests.conftest import IS_PG, StaffFactory
from tests.scenarios.fuel.support import (
    BASE,
    fuel_partner,
    fueling,
    mandate,
    open_drivers,
    per_litre_campaign,
    station,
)
from tests.scenarios.support import assert_ledger_balanced, fund

pytestmark = pytest.mark.skipif(
    not IS_PG, reason="needs PostgreSQL: SQLite runs one writer at a time anyway"
)
PLATES = ["鲁B11111", "鲁B22222", "鲁B33333"]


async def test_parallel_fuelings_respect_the_daily_limit_and_the_budget(
    client: Any, app: Litestar, staff: StaffFactory, sessions: Any
) -> None:
    partner = await fuel_partner(client, staff)
    station_id = await station(partner)
    drivers = await open_drivers(partner, app, PLATES, 800, station_id)
    # The first plate may spend ¥1,000 a day: three ¥300 fuelings fit, a fourth does not.
    await mandate(partner, drivers[0], PLATES[0], per_txn_limit=300_00, daily_limit=1_000_00)
    for driver, plate in zip(drivers[1:], PLATES[1:], strict=True):
        await mandate(partner, driver, plate)
    for driver in drivers:
        await fund(client, staff, driver, 5_000_00)
    # Each 40 L fueling wants ¥20 of subsidy; nine will succeed, the budget covers 7.5 of them.
    campaign_id = await per_litre_campaign(
        client, staff, partner.partner_id, budget=150_00, cap_per_customer_month=1_000_00
    )

    async def fuel(plate: str) -> tuple[str, Any]:
        resp = await partner.call(
            "POST", f"{BASE}/transactions", fueling(station_id, plate, 40_000)
        )
        return plate, resp

    # Take the token first, so that all the requests go out together.
    await partner.fetch_token()
    jobs = [fuel(PLATES[0]) for _ in range(6)] + [fuel(p) for p in PLATES[1:] for _ in range(3)]
    results = await asyncio.gather(*jobs)

    outcomes = Counter(
        (plate, r.status_code, r.json().get("code") if r.status_code != 201 else None)
        for plate, r in results
    )
    assert outcomes == {
        (PLATES[0], 201, None): 3,
        (PLATES[0], 422, "limit_exceeded"): 3,
        (PLATES[1], 201, None): 3,
        (PLATES[2], 201, None): 3,
    }
    paid = [r.json() for _, r in results if r.status_code == 201]
    assert sum(p["subsidy"] for p in paid) == 150_00
    assert all(p["subsidy"] <= 20_00 for p in paid)
    assert sum(p["charged"] for p in paid) == 9 * 300_00 - 150_00

    manager = await staff.token("cm-race", "channel_manager")
    campaign = (await client.get(f"/admin/v1/campaigns/{campaign_id}", headers=manager)).json()
    assert campaign["spent"] == campaign["budget"] == 150_00
    balances = await assert_ledger_balanced(sessions)
    assert balances[f"partner_payable:{partner.partner_id}:fuel"] == -9 * 300_00
    assert balances[f"subsidy_budget:{campaign_id}"] == 150_00
