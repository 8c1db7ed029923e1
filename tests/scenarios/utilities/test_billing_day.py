"""A biller's day reconciled from the biller's own file (DESIGN §9, §10): written-off payments
match, a wrong amount and an unknown row are parked in suspense, a reversed payment is left out."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import respx
from litestar import Litestar

from gateway.clock import business_date_of
from gateway.scenarios.utilities.reconciliation import render_file
from tests.conftest import StaffFactory
from tests.scenarios.support import assert_ledger_balanced, fund, open_owners
from tests.scenarios.utilities.support import (
    BASE,
    BILLER,
    bill,
    echo_write_off,
    onboard_biller,
    problem,
)

ACCOUNTS = ("EL-2026-0001", "EL-2026-0002", "EL-2026-0003")


@pytest.fixture
def biller() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=BILLER, assert_all_called=False) as router:
        router.get("/v1/bills").mock(
            side_effect=lambda request: httpx.Response(
                200, json=bill(request.url.params["account_no"], amount=100_00)
            )
        )
        yield router


async def test_the_billers_file_is_matched_against_the_day(
    client: Any, app: Litestar, staff: StaffFactory, sessions: Any, biller: respx.MockRouter
) -> None:
    partner = await onboard_biller(client, staff)
    [customer] = await open_owners(partner, app, "utilities", 1, seed=960)
    await fund(client, staff, customer, 1_000_00)
    refused_account = ACCOUNTS[2]

    def write_off(request: httpx.Request) -> httpx.Response:
        if refused_account.encode() in request.content:
            return problem(422, "bill_already_paid")
        return echo_write_off(request)

    biller.post("/v1/write-offs").mock(side_effect=write_off)
    paid = []
    for account in ACCOUNTS:
        body = {
            "biller_id": partner.partner_id,
            "account_no": account,
            "bill_key": "2026-11-EL1",
            "amount": 100_00,
            "customer_id": customer,
        }
        resp = await partner.call("POST", f"{BASE}/payments", body)
        assert resp.status_code == 201, resp.text
        paid.append(resp.json())
    assert [p["status"] for p in paid] == ["succeeded", "succeeded", "reversed"]

    today = business_date_of(datetime.now(UTC))
    booked = datetime.now(UTC)
    biller.get(f"/v1/reconciliation-files/{today.isoformat()}").mock(
        return_value=httpx.Response(
            200,
            text=render_file(
                [
                    (booked, paid[0]["id"], ACCOUNTS[0], 100_00, "BANK01", "pay"),
                    (booked, paid[1]["id"], ACCOUNTS[1], 100_01, "BANK01", "pay"),
                    (booked, "utp_not_ours", "EL-2026-0999", 50_00, "BANK01", "pay"),
                ]
            ),
        )
    )
    finance = await staff.token("fin-biller", "finance")
    resp = await client.post(
        "/admin/v1/reconciliation/biller-files",
        json={"biller_id": partner.partner_id, "business_date": today.isoformat()},
        headers=finance,
    )
    assert resp.status_code == 201, resp.text
    assert {
        k: resp.json()[k] for k in ("matched", "amount_mismatch", "partner_only", "bank_only")
    } == {
        "matched": 1,
        "amount_mismatch": 1,
        "partner_only": 1,
        "bank_only": 0,
    }
    balances = await assert_ledger_balanced(sessions)
    assert balances["suspense"] == -1 - 50_00

    ops = await staff.token("ops-biller", "ops_maker")
    denied = await client.post(
        "/admin/v1/reconciliation/biller-files",
        json={"biller_id": partner.partner_id, "business_date": today.isoformat()},
        headers=ops,
    )
    assert denied.status_code == 403
