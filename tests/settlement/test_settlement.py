"""Daily settlement through the API (DESIGN §10): figures to the fen, idempotent re-runs, one
run at a time, payouts through the core, statements and the ledger left at zero."""

from __future__ import annotations

import csv
import io
from datetime import date
from typing import Any

import sqlalchemy as sa
from litestar import Litestar

from gateway.audit.models import AuditRecord
from gateway.clock import business_date_of
from gateway.db import utcnow
from gateway.notifications.models import Event
from gateway.scenarios.models import Transaction
from tests.conftest import StaffFactory, run_jobs
from tests.partners.support import PartnerHandle, onboard
from tests.scenarios.support import assert_ledger_balanced, fund, open_owners
from tests.scenarios.test_community import BASE, _bills, _community
from tests.scenarios.test_community_discount import _campaign
from tests.scenarios.test_refunds import _refund


def today() -> str:
    return business_date_of(utcnow()).isoformat()


async def _day_of_payments(
    client: Any, app: Litestar, staff: StaffFactory, sessions: Any
) -> tuple[PartnerHandle, str]:
    """Three bills paid (one discounted by a campaign), then 100.00 of the first refunded."""
    partner = await onboard(client, staff, webhook_url=None)
    community_id = await _community(partner)
    owners = await open_owners(partner, app, "community", 3, seed=500, sub_channel=community_id)
    items = [(owners[0], 300_00), (owners[1], 500), (owners[2], 333_33)]
    bills = [
        (await _bills(partner, community_id, [owner], amount, "2026-11", first_unit=n))[0]
        for n, (owner, amount) in enumerate(items, start=1)
    ]
    await _campaign(client, staff, partner.partner_id, budget=20_00)
    paid = []
    for bill, (owner, _) in zip(bills, items, strict=True):
        await fund(client, staff, owner, 1_000_00)
        resp = await partner.call(
            "POST", f"{BASE}/payments", {"bill_id": bill, "customer_id": owner}
        )
        assert resp.status_code == 201, resp.text
        paid.append(resp.json()["id"])
    await _refund(app, sessions, paid[0], 100_00, "refund-1")
    return partner, paid[0]


async def test_a_day_settles_to_the_fen_once_and_pays_out(
    client: Any, app: Litestar, staff: StaffFactory, sessions: Any
) -> None:
    partner, first = await _day_of_payments(client, app, staff, sessions)
    finance = await staff.token("fin", "finance")

    run = await client.post(
        "/admin/v1/settlements/run", json={"business_date": today()}, headers=finance
    )
    assert run.status_code == 202, run.text
    again = await client.post(
        "/admin/v1/settlements/run", json={"business_date": today()}, headers=finance
    )
    assert (again.status_code, again.json()["id"]) == (202, run.json()["id"])
    await run_jobs(app)
    done = await client.get(f"/admin/v1/settlements/runs/{run.json()['id']}", headers=finance)
    assert (done.json()["status"], done.json()["settlements"]) == ("completed", 1)

    listed = (await partner.call("GET", f"/v1/settlements?business_date={today()}")).json()
    [settlement] = listed["data"]
    # fees per transaction, half-up: 90 + 2 (1.5) + 100 (99.999) − 30 (refund of 30.0)
    assert {
        k: settlement[k] for k in ("count", "gross", "refunds", "fees", "subsidies", "net")
    } == {
        "count": 4,
        "gross": 300_00 + 500 + 333_33,
        "refunds": 100_00,
        "fees": 162,
        "subsidies": 20_00 - 6_67,
        "net": 300_00 + 500 + 333_33 - 100_00 - 162,
    }
    assert (settlement["payout"], settlement["payout_status"]) == (53_671, "paid")

    balances = await assert_ledger_balanced(sessions)
    assert balances.get(f"partner_payable:{partner.partner_id}:community", 0) == 0
    assert balances["fee_income"] == -162
    assert balances["core_clearing"] == -53_671
    async with sessions() as s:
        events = (await s.scalars(sa.select(Event.type))).all()
    assert "settlement.paid" in events

    statement = await partner.call("GET", f"/v1/settlements/{settlement['id']}/statement")
    assert statement.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(statement.text)))
    assert rows[0] == [
        "txn_id", "external_ref", "occurred_at", "scenario", "type",
        "amount", "fee", "subsidy", "held", "net",
    ]  # fmt: skip
    lines, summary = rows[1:-1], rows[-1]
    assert len(lines) == 4 and lines[0][0] == first
    assert sum(int(r[6]) for r in lines) == 162
    assert sum(int(r[9]) for r in lines) == int(summary[9]) == 53_671
    xlsx = await partner.call("GET", f"/v1/settlements/{settlement['id']}/statement?format=xlsx")
    assert xlsx.content[:2] == b"PK"

    rerun = await client.post(
        "/admin/v1/settlements/run", json={"business_date": today()}, headers=finance
    )
    await run_jobs(app)
    rerun_done = await client.get(
        f"/admin/v1/settlements/runs/{rerun.json()['id']}", headers=finance
    )
    assert rerun.json()["id"] != run.json()["id"]
    assert rerun_done.json()["settlements"] == 0
    assert len((await partner.call("GET", "/v1/settlements")).json()["data"]) == 1


async def test_contract_changes_are_versioned_audited_and_apply(
    client: Any, app: Litestar, staff: StaffFactory, sessions: Any
) -> None:
    partner = await onboard(client, staff, webhook_url=None)
    checker = await staff.token("checker-ctr", "ops_checker")
    path = f"/admin/v1/partners/{partner.partner_id}/contract"
    first = (await client.get(path, headers=checker)).json()
    assert [(c["version"], c["fee_bps"]) for c in first] == [(1, {"community": 30})]

    changed = await client.put(
        path,
        json={
            "fee_bps": {"community": 55},
            "settlement_account": {
                "account_name": "Garden Court PM",
                "account_no": "6217000012345678",
            },
        },
        headers=checker,
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["version"] == 2
    assert changed.json()["settlement_account"]["account_no"] == "621700******5678"
    bad = await client.put(
        path,
        json={"fee_bps": {"fuel": 10}, "effective_from": "2020-01-01"},
        headers=checker,
    )
    assert bad.status_code == 422
    assert {e["code"] for e in bad.json()["errors"]} == {
        "scenario_not_enabled",
        "effective_date_past",
    }
    finance = await staff.token("fin-ctr", "finance")
    assert (await client.put(path, json={}, headers=finance)).status_code == 403
    async with sessions() as s:
        actions = (await s.scalars(sa.select(AuditRecord.action))).all()
    assert "partner_contract.changed" in actions


async def test_runs_refuse_days_that_have_not_closed(client: Any, staff: StaffFactory) -> None:
    finance = await staff.token("fin-dates", "finance")
    future = await client.post(
        "/admin/v1/settlements/run", json={"business_date": "2999-01-01"}, headers=finance
    )
    assert (future.status_code, future.json()["errors"][0]["code"]) == (422, "date_not_closed")
    ops = await staff.token("ops-dates", "ops_maker")
    denied = await client.post(
        "/admin/v1/settlements/run", json={"business_date": str(date(2026, 1, 1))}, headers=ops
    )
    assert denied.status_code == 403


async def test_reconciliation_sorts_every_kind_of_difference_into_suspense(
    client: Any, app: Litestar, staff: StaffFactory, sessions: Any
) -> None:
    partner, _ = await _day_of_payments(client, app, staff, sessions)
    async with sessions() as s:
        txns = (await s.scalars(sa.select(Transaction).order_by(Transaction.occurred_at))).all()
    at = txns[0].occurred_at.isoformat()
    payments = [t for t in txns if t.kind == "payment"]
    refund = next(t for t in txns if t.kind == "refund")
    body = "\n".join(
        [
            "reference,amount,occurred_at",
            f"{payments[0].id},{payments[0].amount},{at}",  # matched
            f"{payments[1].external_ref},{payments[1].amount + 1},{at}",  # amount_mismatch (+1)
            f"{refund.id},-{refund.amount},{at}",  # matched (refunds are negative)
            f"NOT-OURS-1,700,{at}",  # partner_only
        ]
    )  # payments[2] is missing from the file: bank_only
    resp = await partner.call(
        "POST",
        f"/v1/reconciliation-files?business_date={today()}",
        body.encode(),
        content_type="text/csv",
    )
    assert resp.status_code == 201, resp.text
    assert {
        k: resp.json()[k]
        for k in ("lines", "matched", "bank_only", "partner_only", "amount_mismatch")
    } == {
        "lines": 4,
        "matched": 2,
        "bank_only": 1,
        "partner_only": 1,
        "amount_mismatch": 1,
    }
    balances = await assert_ledger_balanced(sessions)
    assert balances["suspense"] == payments[2].amount - 700 - 1

    finance = await staff.token("fin-rec", "finance")
    queue = (await client.get("/admin/v1/reconciliation/exceptions", headers=finance)).json()[
        "data"
    ]
    assert sorted(e["kind"] for e in queue) == ["amount_mismatch", "bank_only", "partner_only"]
    for exception in queue:
        resolved = await client.post(
            f"/admin/v1/reconciliation/exceptions/{exception['id']}/resolve",
            json={"note": "agreed with the partner by phone"},
            headers=finance,
        )
        assert resolved.json()["status"] == "resolved"
    twice = await client.post(
        f"/admin/v1/reconciliation/exceptions/{queue[0]['id']}/resolve",
        json={"note": "again"},
        headers=finance,
    )
    assert (twice.status_code, twice.json()["code"]) == (409, "state_conflict")
    balances = await assert_ledger_balanced(sessions)
    assert balances.get("suspense", 0) == 0

    bad = await partner.call(
        "POST",
        f"/v1/reconciliation-files?business_date={today()}",
        b"reference,amount,occurred_at\nx,abc,yesterday\nx,5,2026-01-01T00:00:00Z\n",
        content_type="text/csv",
    )
    assert bad.status_code == 422
    assert {e["field"] for e in bad.json()["errors"]} >= {"line 2.amount", "line 2.occurred_at"}
