"""Incentives and the risk engine: held while a case is open on the customer, clawed back when
the case is decided as fraud with ``clawback_incentives``."""

from __future__ import annotations

from typing import Any

from litestar import Litestar

from tests.conftest import StaffFactory, run_jobs
from tests.partners.support import onboard
from tests.risk.support import publish_rule
from tests.risk.test_integration import CASES, _rule
from tests.scenarios.support import assert_ledger_balanced, fund, open_owners
from tests.scenarios.test_community import BASE, _bills, _community


async def test_fraud_with_clawback_reverses_the_bounty(
    client: Any, app: Litestar, staff: StaffFactory, sessions: Any
) -> None:
    partner = await onboard(client, staff, webhook_url=None)
    community_id = await _community(partner)
    [owner] = await open_owners(partner, app, "community", 1, seed=950, sub_channel=community_id)
    bills = await _bills(partner, community_id, [owner], 150_00, "2026-11")
    second = await _bills(partner, community_id, [owner], 150_00, "2026-12", first_unit=2)
    await fund(client, staff, owner, 1_000_00)

    paid = await partner.call(
        "POST", f"{BASE}/payments", {"bill_id": bills[0], "customer_id": owner}
    )
    assert paid.status_code == 201, paid.text
    await run_jobs(app)  # the payment makes the owner effective: the bounty accrues
    balances = await assert_ledger_balanced(sessions)
    assert balances[f"incentive_payable:{partner.partner_id}"] == -20_00

    await publish_rule(client, staff, _rule("watch_owner", "event.amount >= 10000"), "cl")
    again = await partner.call(
        "POST", f"{BASE}/payments", {"bill_id": second[0], "customer_id": owner}
    )
    assert again.status_code == 201, again.text
    analyst = await staff.token("analyst-cl2", "risk_analyst")
    [case] = (await client.get(f"{CASES}?rule=watch_owner", headers=analyst)).json()["data"]
    decided = await client.post(
        f"{CASES}/{case['id']}/decide",
        json={"outcome": "fraud", "note": "farmed", "actions": ["clawback_incentives"]},
        headers=analyst,
    )
    assert decided.status_code == 200, decided.text
    await run_jobs(app)

    balances = await assert_ledger_balanced(sessions)
    assert balances.get(f"incentive_payable:{partner.partner_id}", 0) == 0
    manager = await staff.token("cm-cl", "channel_manager")
    [row] = (
        await client.get("/admin/v1/channels/funnel?group_by=partner", headers=manager)
    ).json()["data"]
    assert (row["incentive_accrued"], row["incentive_clawed_back"]) == (20_00, 20_00)
    assert row["flagged"] == 1
