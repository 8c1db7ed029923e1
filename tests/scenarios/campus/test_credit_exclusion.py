"""Students are excluded from every credit product (DESIGN §9 campus; 银监发〔2009〕60号,
〔2021〕28号): the predicate the channels module asks, openings into a credit campaign, and
subsidies drawn from one."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any

from litestar import Litestar

from gateway.channels.campaigns.models import Campaign
from gateway.ids import new_id
from gateway.scenarios.base import credit_excluded, is_credit_excluded
from tests.conftest import StaffFactory, run_jobs
from tests.scenarios.campus.support import BASE, member, open_batch, university
from tests.scenarios.support import assert_ledger_balanced, fund
from tests.scenarios.test_community import BASE as COMMUNITY
from tests.scenarios.test_community import _bills, _community


async def _campaign(
    client: Any, staff: StaffFactory, partner_id: str, scenario: str, product: str
) -> str:
    manager = await staff.token(f"cm-{product}-{scenario}", "channel_manager")
    resp = await client.post(
        "/admin/v1/campaigns",
        json={
            "name": f"{product} for {scenario}",
            "scenario": scenario,
            "partner_id": partner_id,
            "product_type": product,
            "budget": 1_000_00,
            "starts_at": "2026-01-01T00:00:00+08:00",
            "ends_at": "2099-01-01T00:00:00+08:00",
        },
        headers=manager,
    )
    assert resp.status_code == 201, resp.text
    return str(resp.json()["id"])


async def test_students_are_never_opened_into_a_credit_campaign(
    client: Any, app: Litestar, staff: StaffFactory, sessions: Any
) -> None:
    partner = await university(client, staff, scenarios=["campus", "community"])
    card_campaign = await _campaign(client, staff, partner.partner_id, "campus", "credit_card")
    loan_campaign = await _campaign(client, staff, partner.partner_id, "community", "consumer_loan")
    payment_campaign = await _campaign(client, staff, partner.partner_id, "community", "payment")
    rng = random.Random(840)
    student, staff_member = member(rng, 1, "S001", "student"), member(rng, 2, "T001", "staff")

    batch, items = await open_batch(partner, app, [student, staff_member], campaign=card_campaign)
    assert batch["status"] == "completed_with_errors"
    assert [(i["status"], i["error"] and i["error"]["code"]) for i in items] == [
        ("rejected", "credit_excluded"),
        ("opened", None),
    ]
    cards = (await partner.call("GET", f"{BASE}/cards")).json()["data"]
    assert [c["student_no"] for c in cards] == ["T001"]

    # Opened without the credit campaign, the student is a student to every other scenario too.
    plain, plain_items = await open_batch(partner, app, [student])
    assert plain["status"] == "completed" and plain_items[0]["status"] == "opened"
    student_id = plain_items[0]["customer_id"]
    stranger = member(rng, 3, "X", "staff") | {"attributes": {}}
    for campaign, expected in (
        (loan_campaign, [("rejected", "credit_excluded"), ("opened", None)]),
        (payment_campaign, [("existing", None), ("existing", None)]),
    ):
        resp = await partner.call(
            "POST",
            "/v1/account-batches",
            {"scenario": "community", "campaign": campaign, "items": [student, stranger]},
        )
        assert resp.status_code == 202, resp.text
        await run_jobs(app)
        got = (await partner.call("GET", f"/v1/account-batches/{resp.json()['id']}/items")).json()
        assert [(i["status"], i["error"] and i["error"]["code"]) for i in got["data"]] == expected

    single = await partner.call(
        "POST",
        "/v1/customers",
        student | {"scenario": "community", "campaign": loan_campaign},
    )
    assert (single.status_code, single.json()["code"]) == (422, "credit_excluded")

    async with sessions() as s:
        assert await is_credit_excluded(s, student_id)
        assert not await is_credit_excluded(s, items[1]["customer_id"])
        assert not await is_credit_excluded(s, "cus_unknown")
        assert await credit_excluded(s, [student_id, items[1]["customer_id"]]) == {student_id}
        assert await credit_excluded(s, []) == set()

    # Graduation closes the card, and with it the exclusion.
    [card] = (await partner.call("GET", f"{BASE}/cards?role=student")).json()["data"]
    closed = await partner.call("POST", f"{BASE}/cards/{card['id']}/withdrawal")
    assert closed.status_code == 201, closed.text
    async with sessions() as s:
        assert not await is_credit_excluded(s, student_id)


async def test_a_student_gets_no_subsidy_from_a_credit_campaign(
    client: Any, app: Litestar, staff: StaffFactory, sessions: Any
) -> None:
    """Credit campaigns cannot be given a subsidy (``subsidy_payment_only``); this one is put in
    the database directly, and the draw still refuses students while staff get it."""
    partner = await university(client, staff, scenarios=["campus", "community"])
    rng = random.Random(850)
    batch, items = await open_batch(
        partner, app, [member(rng, 1, "S001", "student"), member(rng, 2, "T001", "staff")]
    )
    assert batch["status"] == "completed"
    student_id, staff_id = items[0]["customer_id"], items[1]["customer_id"]
    campaign_id = new_id("cmp")
    async with sessions() as s:
        s.add(
            Campaign(
                id=campaign_id,
                name="Card-holder fee rebate (legacy data)",
                scenario="community",
                partner_id=partner.partner_id,
                product_type="credit_card",
                budget=100_00,
                subsidy_type="fixed",
                subsidy_value=5_00,
                cap_per_txn=5_00,
                cap_per_customer_month=50_00,
                starts_at=datetime(2026, 1, 1, tzinfo=UTC),
                ends_at=datetime(2099, 1, 1, tzinfo=UTC),
                created_by="test",
            )
        )
        await s.commit()
    community_id = await _community(partner)
    bills = await _bills(partner, community_id, [student_id, staff_id], 100_00, "2026-11")
    for who in (student_id, staff_id):
        await fund(client, staff, who, 200_00)
    paid = []
    for bill, who in zip(bills, (student_id, staff_id), strict=True):
        resp = await partner.call(
            "POST", f"{COMMUNITY}/payments", {"bill_id": bill, "customer_id": who}
        )
        assert resp.status_code == 201, resp.text
        paid.append((resp.json()["discount"], resp.json()["campaign_id"]))
    assert paid == [(0, None), (5_00, campaign_id)]
    balances = await assert_ledger_balanced(sessions)
    assert balances[f"subsidy_budget:{campaign_id}"] == 5_00
