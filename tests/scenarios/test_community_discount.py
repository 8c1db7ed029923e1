"""Community owner discounts funded by a campaign (DESIGN §7, §9): the budget runs out mid-way."""

from __future__ import annotations

from typing import Any

from litestar import Litestar

from tests.conftest import StaffFactory
from tests.partners.support import onboard
from tests.scenarios.support import assert_ledger_balanced, fund, open_owners
from tests.scenarios.test_community import BASE, _bills, _community


async def _campaign(client: Any, staff: StaffFactory, partner_id: str, budget: int) -> str:
    manager = await staff.token("cm-discount", "channel_manager")
    resp = await client.post(
        "/admin/v1/campaigns",
        json={
            "name": "Pay your fees through the bank",
            "scenario": "community",
            "partner_id": partner_id,
            "product_type": "payment",
            "budget": budget,
            "subsidy": {
                "type": "percent",
                "value": 10,
                "cap_per_txn": 20_00,
                "cap_per_customer_month": 50_00,
            },
            "starts_at": "2026-01-01T00:00:00+08:00",
            "ends_at": "2099-01-01T00:00:00+08:00",
        },
        headers=manager,
    )
    assert resp.status_code == 201, resp.text
    return str(resp.json()["id"])


async def test_discount_is_capped_per_bill_and_stops_when_the_budget_runs_out(
    client: Any, app: Litestar, staff: StaffFactory, sessions: Any
) -> None:
    partner = await onboard(client, staff, webhook_url=None)
    community_id = await _community(partner)
    owners = await open_owners(partner, app, "community", 4, seed=300, sub_channel=community_id)
    bills = await _bills(partner, community_id, owners, 300_00, "2026-11")
    campaign_id = await _campaign(client, staff, partner.partner_id, budget=30_00)
    for owner in owners[:3]:
        await fund(client, staff, owner, 1_000_00)

    declined = await partner.call(
        "POST", f"{BASE}/payments", {"bill_id": bills[3], "customer_id": owners[3]}
    )
    assert (declined.status_code, declined.json()["code"]) == (422, "insufficient_funds")

    paid = []
    for bill, owner in zip(bills[:3], owners[:3], strict=True):
        resp = await partner.call(
            "POST", f"{BASE}/payments", {"bill_id": bill, "customer_id": owner}
        )
        assert resp.status_code == 201, resp.text
        paid.append(resp.json())
    assert [(p["amount"], p["discount"], p["charged"]) for p in paid] == [
        (300_00, 20_00, 280_00),
        (300_00, 10_00, 290_00),
        (300_00, 0, 300_00),
    ]
    assert [p["campaign_id"] for p in paid] == [campaign_id, campaign_id, None]

    manager = await staff.token("cm-reader", "channel_manager")
    campaign = (await client.get(f"/admin/v1/campaigns/{campaign_id}", headers=manager)).json()
    assert (campaign["budget"], campaign["spent"]) == (30_00, 30_00)
    balances = await assert_ledger_balanced(sessions)
    assert balances[f"partner_payable:{partner.partner_id}:community"] == -900_00
    assert balances[f"subsidy_budget:{campaign_id}"] == 30_00
    assert balances["customer_funds"] == 870_00
