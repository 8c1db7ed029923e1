"""Smart community through the API: communities, owners, bills, payments, stats (DESIGN §9)."""

from __future__ import annotations

import asyncio
from typing import Any

import sqlalchemy as sa
from litestar import Litestar

from gateway.core_banking.models import SandboxAccount
from gateway.scenarios.models import Transaction
from tests.conftest import StaffFactory
from tests.partners.support import PartnerHandle, onboard
from tests.scenarios.support import assert_ledger_balanced, fund, open_owners

BASE = "/v1/scenarios/community"


async def _community(partner: PartnerHandle, households: int = 4) -> str:
    resp = await partner.call(
        "POST",
        f"{BASE}/communities",
        {
            "external_ref": "garden",
            "name": "Garden Court",
            "address": "8 Lake Rd",
            "households": households,
        },
    )
    assert resp.status_code == 201, resp.text
    return str(resp.json()["id"])


async def _bills(
    partner: PartnerHandle,
    community_id: str,
    owners: list[str],
    amount: int,
    period: str,
    first_unit: int = 1,
) -> list[str]:
    items = [
        {
            "community_id": community_id,
            "unit": f"1-{n:03d}",
            "customer_id": owner,
            "item": "property_fee",
            "period": period,
            "amount": amount,
            "due_date": "2026-12-31",
        }
        for n, owner in enumerate(owners, start=first_unit)
    ]
    resp = await partner.call("POST", f"{BASE}/bills", {"items": items})
    assert resp.status_code == 201, resp.text
    return [b["id"] for b in resp.json()["data"]]


async def test_whole_flow_bills_payments_and_stats(
    client: Any, app: Litestar, staff: StaffFactory, sessions: Any
) -> None:
    partner = await onboard(client, staff, webhook_url=None)
    community_id = await _community(partner)
    owners = await open_owners(partner, app, "community", 3, seed=100, sub_channel=community_id)
    bills = await _bills(partner, community_id, owners, 300_00, "2026-11")
    for owner in owners[:2]:
        await fund(client, staff, owner, 1_000_00)

    listed = (
        await partner.call(
            "GET", f"{BASE}/bills?community_id={community_id}&status=unpaid&period=2026-11"
        )
    ).json()
    assert [b["id"] for b in listed["data"]] == bills
    assert listed["data"][0] == {
        "id": bills[0],
        "community_id": community_id,
        "unit": "1-001",
        "customer_id": owners[0],
        "item": "property_fee",
        "period": "2026-11",
        "amount": 300_00,
        "status": "unpaid",
        "due_date": "2026-12-31",
        "currency": "CNY",
    }

    paid = await partner.call(
        "POST",
        f"{BASE}/payments",
        {"bill_id": bills[0], "customer_id": owners[0]},
        idempotency_key="pay-1",
    )
    assert paid.status_code == 201, paid.text
    assert {k: paid.json()[k] for k in ("amount", "discount", "charged", "status")} == {
        "amount": 300_00,
        "discount": 0,
        "charged": 300_00,
        "status": "succeeded",
    }
    replay = await partner.call(
        "POST",
        f"{BASE}/payments",
        {"bill_id": bills[0], "customer_id": owners[0]},
        idempotency_key="pay-1",
    )
    assert replay.json() == paid.json() and replay.headers["idempotent-replayed"] == "true"
    twice = await partner.call(
        "POST", f"{BASE}/payments", {"bill_id": bills[0], "customer_id": owners[0]}
    )
    assert (twice.status_code, twice.json()["code"]) == (409, "bill_already_paid")

    broke = await partner.call(
        "POST", f"{BASE}/payments", {"bill_id": bills[2], "customer_id": owners[2]}
    )
    assert (broke.status_code, broke.json()["code"]) == (422, "insufficient_funds")
    mismatch = await partner.call(
        "POST", f"{BASE}/payments", {"bill_id": bills[1], "customer_id": owners[0]}
    )
    assert (mismatch.status_code, mismatch.json()["code"]) == (422, "customer_mismatch")

    cancelled = await partner.call("POST", f"{BASE}/bills/{bills[2]}/cancel")
    assert cancelled.json()["status"] == "cancelled"
    refused = await partner.call(
        "POST", f"{BASE}/payments", {"bill_id": bills[2], "customer_id": owners[2]}
    )
    assert (refused.status_code, refused.json()["code"]) == (409, "bill_cancelled")

    stats = (await partner.call("GET", f"{BASE}/communities/{community_id}/stats")).json()
    assert stats == {
        "community_id": community_id,
        "households": 4,
        "owners_with_accounts": 3,
        "coverage": 0.75,
        "periods": [
            {"period": "2026-11", "billed": 600_00, "paid": 300_00, "collection_rate": 0.5}
        ],
    }
    balances = await assert_ledger_balanced(sessions)
    assert balances[f"partner_payable:{partner.partner_id}:community"] == -300_00
    assert balances["customer_funds"] == 300_00
    async with sessions() as s:
        assert await s.scalar(sa.select(sa.func.count()).select_from(Transaction)) == 1


async def test_frozen_account_and_class_ii_limit_leave_the_bill_unpaid(
    client: Any, app: Litestar, staff: StaffFactory, sessions: Any
) -> None:
    partner = await onboard(client, staff, webhook_url=None)
    community_id = await _community(partner)
    owners = await open_owners(partner, app, "community", 2, seed=101, sub_channel=community_id)
    small = await _bills(partner, community_id, owners[:1], 100_00, "2026-10")
    big = await _bills(partner, community_id, owners[1:], 10_000_01, "2026-10", first_unit=2)
    for owner in owners:
        await fund(client, staff, owner, 20_000_00)
    async with sessions() as s:
        await s.execute(
            sa.update(SandboxAccount)
            .where(SandboxAccount.kind == "personal_class_ii")
            .values(status="frozen")
        )
        await s.commit()
    frozen = await partner.call(
        "POST", f"{BASE}/payments", {"bill_id": small[0], "customer_id": owners[0]}
    )
    assert (frozen.status_code, frozen.json()["code"]) == (422, "account_frozen")
    async with sessions() as s:
        await s.execute(sa.update(SandboxAccount).values(status="active"))
        await s.commit()
    over = await partner.call(
        "POST", f"{BASE}/payments", {"bill_id": big[0], "customer_id": owners[1]}
    )
    assert (over.status_code, over.json()["code"]) == (422, "limit_exceeded")  # over ¥10,000 a day
    unpaid = (await partner.call("GET", f"{BASE}/bills?status=unpaid")).json()["data"]
    assert len(unpaid) == 2
    await assert_ledger_balanced(sessions)


async def test_isolation_and_validation(client: Any, app: Litestar, staff: StaffFactory) -> None:
    partner = await onboard(client, staff, webhook_url=None)
    other = await onboard(client, staff, webhook_url=None, scenarios=["community"])
    community_id = await _community(partner)
    owners = await open_owners(partner, app, "community", 1, seed=102, sub_channel=community_id)
    bill = (await _bills(partner, community_id, owners, 50_00, "2026-11"))[0]
    for path in (f"{BASE}/communities/{community_id}", f"{BASE}/communities/{community_id}/stats"):
        assert (await other.call("GET", path)).status_code == 404
    foreign = await other.call(
        "POST", f"{BASE}/payments", {"bill_id": bill, "customer_id": owners[0]}
    )
    assert foreign.status_code == 404
    assert (await other.call("GET", f"{BASE}/bills")).json()["data"] == []
    bad = await partner.call(
        "POST",
        f"{BASE}/bills",
        {
            "items": [
                {
                    "community_id": "cmt_nope",
                    "unit": "1",
                    "customer_id": owners[0],
                    "item": "property_fee",
                    "period": "2026-13",
                    "amount": 1,
                    "due_date": "2026-12-01",
                }
            ]
        },
    )
    assert bad.status_code == 422
    dup = await partner.call(
        "POST",
        f"{BASE}/bills",
        {
            "items": [
                {
                    "community_id": community_id,
                    "unit": "1-001",
                    "customer_id": owners[0],
                    "item": "property_fee",
                    "period": "2026-11",
                    "amount": 1,
                    "due_date": "2026-12-01",
                }
            ]
        },
    )
    assert (dup.status_code, dup.json()["code"]) == (409, "bill_duplicate")
    fuel_partner = await onboard(client, staff, webhook_url=None, scenarios=["fuel"])
    no_scope = await fuel_partner.call("GET", f"{BASE}/bills")
    assert (no_scope.status_code, no_scope.json()["code"]) == (403, "insufficient_scope")
    await asyncio.sleep(0)
