"""The engine inline: payments held or blocked, openings blocked, and case decisions acting."""

from __future__ import annotations

import random
from typing import Any

import sqlalchemy as sa
from litestar import Litestar

from gateway.core_banking.models import SandboxAccount
from gateway.customers.models import Customer
from gateway.notifications.models import Event
from gateway.risk import held_transaction_ids, pending_clawbacks
from gateway.scenarios.models import Transaction
from tests.conftest import StaffFactory, run_jobs
from tests.customers.support import person
from tests.partners.support import onboard
from tests.risk.support import BAD_DEVICE_RULE, publish_rule
from tests.scenarios.support import assert_ledger_balanced, fund, open_owners
from tests.scenarios.test_community import BASE, _bills, _community

CASES = "/admin/v1/risk/cases"


def _rule(rule_id: str, expression: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": rule_id,
        "event_type": "transaction",
        "description": rule_id,
        "expression": expression,
        "subject": "customer",
    } | extra


async def _count(sessions: Any, model: Any, *where: Any) -> int:
    async with sessions() as s:
        return int(await s.scalar(sa.select(sa.func.count()).select_from(model).where(*where)))


async def test_review_holds_the_payment_block_refuses_it_and_decisions_act(
    client: Any, app: Litestar, staff: StaffFactory, sessions: Any
) -> None:
    partner = await onboard(client, staff, webhook_url=None)
    community_id = await _community(partner)
    owners = await open_owners(partner, app, "community", 2, seed=700, sub_channel=community_id)
    small = await _bills(partner, community_id, owners, 300_00, "2026-11")
    big = await _bills(partner, community_id, owners[:1], 800_00, "2026-12", first_unit=5)
    for owner in owners:
        await fund(client, staff, owner, 2_000_00)
    await publish_rule(client, staff, _rule("fee_over_200", "event.amount >= 20000"), "a")
    await publish_rule(
        client, staff, _rule("fee_over_700", "event.amount >= 70000", severity="block"), "b"
    )

    # block: 422 risk_blocked, nothing charged, nothing written
    async with sessions() as s:
        balance = await s.scalar(sa.select(sa.func.sum(SandboxAccount.balance)))
    blocked = await partner.call(
        "POST", f"{BASE}/payments", {"bill_id": big[0], "customer_id": owners[0]}
    )
    assert (blocked.status_code, blocked.json()["code"]) == (422, "risk_blocked")
    async with sessions() as s:
        assert await s.scalar(sa.select(sa.func.sum(SandboxAccount.balance))) == balance
    assert await _count(sessions, Transaction) == 0
    unpaid = (await partner.call("GET", f"{BASE}/bills?status=unpaid")).json()["data"]
    assert big[0] in {b["id"] for b in unpaid}

    # review: the payment goes through, a case opens, the transaction is held
    paid = await partner.call(
        "POST", f"{BASE}/payments", {"bill_id": small[0], "customer_id": owners[0]}
    )
    assert paid.status_code == 201, paid.text
    txn_id = paid.json()["id"]
    async with sessions() as s:
        assert await held_transaction_ids(s) == {txn_id}
        placed = (await s.scalars(sa.select(Event).where(Event.type == "risk.hold_placed"))).all()
    assert [e.data["transaction_id"] for e in placed] == [txn_id]
    assert placed[0].partner_id == partner.partner_id
    await assert_ledger_balanced(sessions)

    analyst = await staff.token("analyst-c", "risk_analyst")
    [case] = (await client.get(f"{CASES}?rule=fee_over_200", headers=analyst)).json()["data"]
    assert case["subject"] == {"type": "customer", "id": owners[0]}
    assert case["holds"] == [txn_id]
    detail = (await client.get(f"{CASES}/{case['id']}", headers=analyst)).json()
    [evidence] = detail["evidence"]
    assert evidence["values"] == {"event.amount": 300_00}
    assert (evidence["transaction_id"], evidence["outcome"]) == (txn_id, "review")
    assert detail["related"]["transactions"] == [txn_id]
    assert detail["related"]["customers"] == [owners[0]]
    assert detail["related"]["partners"] == [partner.partner_id]

    # suspend_partner needs a risk lead; an analyst's decision changes nothing
    refused = await client.post(
        f"{CASES}/{case['id']}/decide",
        json={"outcome": "fraud", "actions": ["suspend_partner"]},
        headers=analyst,
    )
    assert (refused.status_code, refused.json()["code"]) == (403, "role_required")
    released = await client.post(
        f"{CASES}/{case['id']}/decide",
        json={"outcome": "not_fraud", "note": "regular owner", "actions": ["release_hold"]},
        headers=analyst,
    )
    assert released.status_code == 200, released.text
    assert released.json()["holds"] == []
    assert released.json()["actions"][0]["target"] == {"released": [txn_id]}
    async with sessions() as s:
        assert await held_transaction_ids(s) == set()

    # a second hit on the other owner; a risk lead confirms fraud and acts
    again = await partner.call(
        "POST", f"{BASE}/payments", {"bill_id": small[1], "customer_id": owners[1]}
    )
    assert again.status_code == 201
    lead = await staff.token("lead-c", "risk_lead")
    taken = await client.post(f"{CASES}/next", headers=lead)
    assert taken.json()["subject"]["id"] == owners[1]
    decided = await client.post(
        f"{CASES}/{taken.json()['id']}/decide",
        json={
            "outcome": "fraud",
            "note": "cash-out",
            "actions": ["hold_settlement", "clawback_incentives", "suspend_partner"],
        },
        headers=lead,
    )
    assert decided.status_code == 200, decided.text
    assert decided.json()["holds"] == [again.json()["id"]]  # confirmed fraud stays held
    async with sessions() as s:
        assert await held_transaction_ids(s) == {again.json()["id"]}
        [clawback] = await pending_clawbacks(s)
    assert clawback.target == {"subject": {"type": "customer", "id": owners[1]}}
    me = await partner.call("GET", "/v1/partners/me")
    assert (me.status_code, me.json()["code"]) == (403, "partner_suspended")
    audit = await client.get(
        "/admin/v1/audit?action=risk.case_decided", headers=await staff.token("aud", "auditor")
    )
    assert len(audit.json()["data"]) == 2
    rules = {
        r["id"]: r["stats"]
        for r in (await client.get("/admin/v1/risk/rules", headers=lead)).json()["data"]
    }
    assert (rules["fee_over_200"]["closed_cases"], rules["fee_over_200"]["precision"]) == (2, 0.5)


async def test_a_blocked_opening_writes_nothing_and_a_batch_row_is_rejected(
    client: Any, app: Litestar, staff: StaffFactory, sessions: Any
) -> None:
    partner = await onboard(client, staff, webhook_url=None)
    await publish_rule(client, staff, BAD_DEVICE_RULE, "o")
    rng = random.Random(11)
    single = await partner.call(
        "POST",
        "/v1/customers",
        person(rng, 1) | {"scenario": "community", "context": {"device_id": "dev-bad"}},
    )
    assert (single.status_code, single.json()["code"]) == (422, "risk_blocked")
    assert await _count(sessions, Customer) == 0
    fine = await partner.call(
        "POST",
        "/v1/customers",
        person(rng, 2) | {"scenario": "community", "context": {"device_id": "dev-ok"}},
    )
    assert fine.status_code == 201, fine.text

    rows = [person(rng, n) for n in range(3, 6)]
    rows[1]["context"] = {"device_id": "dev-bad"}
    batch = await partner.call(
        "POST", "/v1/account-batches", {"scenario": "community", "items": rows}
    )
    assert batch.status_code == 202, batch.text
    await run_jobs(app)
    items = (await partner.call("GET", f"/v1/account-batches/{batch.json()['id']}/items")).json()[
        "data"
    ]
    assert [i["status"] for i in items] == ["opened", "rejected", "opened"]
    assert items[1]["error"]["code"] == "risk_blocked"
    assert await _count(sessions, Customer) == 3
    lead = await staff.token("lead-o2", "risk_lead")
    [case] = (await client.get(f"{CASES}?rule=bad_device", headers=lead)).json()["data"]
    assert case["subject"] == {"type": "partner", "id": partner.partner_id}
    assert [e["outcome"] for e in case["evidence"]] == ["block"]  # the batch row's decision


async def test_a_suspended_sub_channel_blocks_what_comes_through_it(
    client: Any, app: Litestar, staff: StaffFactory, sessions: Any
) -> None:
    partner = await onboard(client, staff, webhook_url=None)
    community_id = await _community(partner)
    rng = random.Random(12)
    shared = {"phone": "13800138000", "scenario": "community", "sub_channel": community_id}
    for n in range(3):
        resp = await partner.call("POST", "/v1/customers", person(rng, n) | shared)
        assert resp.status_code == 201, resp.text
    lead = await staff.token("lead-s", "risk_lead")
    [case] = (await client.get(f"{CASES}?rule=shared_identity", headers=lead)).json()["data"]
    assert case["subject"] == {"type": "sub_channel", "id": community_id}
    detail = (await client.get(f"{CASES}/{case['id']}", headers=lead)).json()
    assert len(detail["related"]["customers"]) == 3  # everyone behind the shared phone
    decided = await client.post(
        f"{CASES}/{case['id']}/decide",
        json={"outcome": "fraud", "actions": ["suspend_sub_channel"]},
        headers=lead,
    )
    assert decided.status_code == 200, decided.text
    refused = await partner.call(
        "POST",
        "/v1/customers",
        person(rng, 9) | {"scenario": "community", "sub_channel": community_id},
    )
    assert (refused.status_code, refused.json()["code"]) == (422, "risk_blocked")
    elsewhere = await partner.call(
        "POST", "/v1/customers", person(rng, 10) | {"scenario": "community"}
    )
    assert elsewhere.status_code == 201
