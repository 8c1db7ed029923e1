"""A card's balance stays within 0 … ¥1,000 under concurrent top-ups and payments: each request
holds the card's row lock (PostgreSQL; SQLite's single writer serialises the same way)."""

from __future__ import annotations

import asyncio
from typing import Any

from litestar import Litestar

from tests.conftest import StaffFactory
from tests.scenarios.campus.support import BASE, freshmen, merchant, university
from tests.scenarios.support import assert_ledger_balanced, fund


async def test_concurrent_top_ups_and_payments_keep_the_balance_within_bounds(
    client: Any, app: Litestar, staff: StaffFactory, sessions: Any
) -> None:
    partner = await university(client, staff)
    card = (await freshmen(partner, app, seed=860, students=1, staff=0))["S001"]
    canteen = await merchant(partner)
    await fund(client, staff, card["customer_id"], 5_000_00)

    tops = await asyncio.gather(
        *(
            partner.call("POST", f"{BASE}/cards/{card['id']}/top-ups", {"amount": 300_00})
            for _ in range(8)
        )
    )
    outcomes = sorted((r.status_code, r.json().get("code")) for r in tops)
    assert outcomes == [(201, None)] * 3 + [(422, "card_balance_cap")] * 5
    assert sorted(r.json()["balance"] for r in tops if r.status_code == 201) == [
        300_00,
        600_00,
        900_00,
    ]

    payment = {"card_id": card["id"], "merchant_id": canteen, "terminal_id": "POS-1"}
    pays = await asyncio.gather(
        *(partner.call("POST", f"{BASE}/payments", payment | {"amount": 200_00}) for _ in range(8))
    )
    outcomes = sorted((r.status_code, r.json().get("code")) for r in pays)
    assert outcomes == [(201, None)] * 4 + [(422, "insufficient_card_balance")] * 4

    final = (await partner.call("GET", f"{BASE}/cards/{card['id']}")).json()
    assert final["balance"] == 100_00
    balances = await assert_ledger_balanced(sessions)
    assert balances[f"card_float:{partner.partner_id}"] == -100_00
    assert balances[f"partner_payable:{partner.partner_id}:campus"] == -800_00
    assert balances["customer_funds"] == 900_00
