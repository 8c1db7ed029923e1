"""Money under a risk hold waits (DESIGN §10): excluded and listed as held, then settled by the
first run after the case releases it."""

from __future__ import annotations

import csv
import io
from typing import Any

from litestar import Litestar

from tests.conftest import StaffFactory, run_jobs
from tests.partners.support import onboard
from tests.risk.support import publish_rule
from tests.risk.test_integration import CASES, _rule
from tests.scenarios.support import fund, open_owners
from tests.scenarios.test_community import BASE, _bills, _community
from tests.settlement.test_settlement import today


async def _run(client: Any, finance: dict[str, str], app: Litestar) -> None:
    run = await client.post(
        "/admin/v1/settlements/run", json={"business_date": today()}, headers=finance
    )
    assert run.status_code == 202, run.text
    await run_jobs(app)


async def test_held_money_waits_for_the_case_then_settles(
    client: Any, app: Litestar, staff: StaffFactory, sessions: Any
) -> None:
    partner = await onboard(client, staff, webhook_url=None)
    community_id = await _community(partner)
    owners = await open_owners(partner, app, "community", 2, seed=900, sub_channel=community_id)
    small = await _bills(partner, community_id, owners[:1], 100_00, "2026-11")
    large = await _bills(partner, community_id, owners[1:], 500_00, "2026-11", first_unit=2)
    for owner in owners:
        await fund(client, staff, owner, 1_000_00)
    await publish_rule(client, staff, _rule("over_300", "event.amount >= 30000"), "h")
    for bill, owner in ((small[0], owners[0]), (large[0], owners[1])):
        paid = await partner.call(
            "POST", f"{BASE}/payments", {"bill_id": bill, "customer_id": owner}
        )
        assert paid.status_code == 201, paid.text
    held_txn = paid.json()["id"]

    finance = await staff.token("fin-holds", "finance")
    await _run(client, finance, app)
    [first] = (await partner.call("GET", "/v1/settlements")).json()["data"]
    assert (first["gross"], first["held"], first["payout"]) == (100_00, 500_00, 100_00 - 30)
    statement = await partner.call("GET", f"/v1/settlements/{first['id']}/statement")
    held_line = next(r for r in csv.reader(io.StringIO(statement.text)) if r[0] == held_txn)
    assert (held_line[8], held_line[9]) == ("50000", "0")

    await _run(client, finance, app)  # still held: nothing new to settle
    assert len((await partner.call("GET", "/v1/settlements")).json()["data"]) == 1

    analyst = await staff.token("analyst-holds", "risk_analyst")
    [case] = (await client.get(f"{CASES}?rule=over_300", headers=analyst)).json()["data"]
    released = await client.post(
        f"{CASES}/{case['id']}/decide",
        json={"outcome": "not_fraud", "note": "known owner", "actions": ["release_hold"]},
        headers=analyst,
    )
    assert released.status_code == 200, released.text
    await _run(client, finance, app)
    settlements = (await partner.call("GET", "/v1/settlements")).json()["data"]
    assert len(settlements) == 2
    second = settlements[1]
    assert (second["gross"], second["held"], second["seq"]) == (500_00, 0, 2)
    assert second["payout_status"] == "paid"
