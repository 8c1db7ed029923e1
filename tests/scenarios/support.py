"""Helpers for scenario tests: owners opened, accounts funded, ledger checked."""

from __future__ import annotations

from typing import Any

from litestar import Litestar

from gateway.settlement.ledger.service import trial_balance
from tests.conftest import StaffFactory, run_jobs
from tests.customers.support import people
from tests.partners.support import PartnerHandle


async def open_owners(
    partner: PartnerHandle, app: Litestar, scenario: str, count: int, seed: int, **extra: Any
) -> list[str]:
    """Open ``count`` customers through a batch and return their ids in row order."""
    body = {"scenario": scenario, "items": people(seed, count), **extra}
    batch = await partner.call("POST", "/v1/account-batches", body)
    assert batch.status_code == 202, batch.text
    await run_jobs(app)
    items = await partner.call("GET", f"/v1/account-batches/{batch.json()['id']}/items")
    return [i["customer_id"] for i in items.json()["data"]]


async def fund(client: Any, staff: StaffFactory, customer_id: str, amount: int) -> None:
    admin = await staff.token(f"funder-{customer_id[-6:]}", "admin")
    resp = await client.post(
        f"/admin/v1/sandbox/customers/{customer_id}/deposits",
        json={"amount": amount},
        headers=admin,
    )
    assert resp.status_code == 201, resp.text


async def assert_ledger_balanced(sessions: Any) -> dict[str, int]:
    async with sessions() as s:
        report = await trial_balance(s)
    assert report.total == 0
    return report.balances
