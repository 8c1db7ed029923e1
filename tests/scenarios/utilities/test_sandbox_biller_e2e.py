"""End to end over real HTTP: the gateway (in process) against `gateway sandbox-biller` running as
its own server process on a loopback port. Every branch of a payment, with the sandbox biller's
own failure injection, then the day's reconciliation file fetched and parsed."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar import Litestar

from gateway.clock import business_date_of
from gateway.db import utcnow
from gateway.scenarios.utilities.client import config_of, pool_of
from gateway.scenarios.utilities.reconciliation import parse_file
from gateway.scenarios.utilities.service import RESOLVE_JOB
from tests.conftest import StaffFactory, run_jobs
from tests.e2e.conftest import free_port
from tests.scenarios.support import assert_ledger_balanced, fund, open_owners
from tests.scenarios.utilities.support import (
    BASE,
    balance,
    jobs_due_now,
    onboard_biller,
    quick_billers,
)

FUNDS = 2_000_00


@pytest.fixture
def sandbox_biller(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = (tmp_path / "biller.log").open("w")
    env = {k: v for k, v in os.environ.items() if k != "GATEWAY_TEST_DATABASE_URL"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "gateway.cli", "sandbox-biller", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=log,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                pytest.fail((tmp_path / "biller.log").read_text())
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("the sandbox biller did not come up")
            time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=15)
        log.close()


def _fault(url: str, **body: Any) -> None:
    httpx.post(f"{url}/sandbox/faults", json=body, timeout=5).raise_for_status()


async def test_payments_against_the_sandbox_biller_server(
    client: Any, app: Litestar, staff: StaffFactory, sessions: Any, sandbox_biller: str
) -> None:
    quick_billers(app)
    partner = await onboard_biller(client, staff, base_url=sandbox_biller, biller_type="water")
    [customer] = await open_owners(partner, app, "utilities", 1, seed=970)
    await fund(client, staff, customer, FUNDS)

    async def query(account_no: str) -> dict[str, Any]:
        path = f"{BASE}/bills?biller_id={partner.partner_id}&account_no={account_no}"
        resp = await partner.call("GET", path)
        assert resp.status_code == 200, resp.text
        return dict(resp.json())

    async def pay(account_no: str) -> dict[str, Any]:
        due = await query(account_no)
        body = {
            "biller_id": partner.partner_id,
            "account_no": account_no,
            "bill_key": due["bill_key"],
            "amount": due["amount_due"],
            "customer_id": customer,
        }
        resp = await partner.call("POST", f"{BASE}/payments", body)
        assert resp.status_code == 201, resp.text
        return dict(resp.json())

    # An account nobody set up: a deterministic unpaid bill of at most ¥500.
    first = await query("WA-100001")
    assert first == await query("WA-100001")
    assert 0 < first["amount_due"] <= 500_00
    assert first["holder_name"].endswith("*")
    missing = await partner.call(
        "GET", f"{BASE}/bills?biller_id={partner.partner_id}&account_no=404-1"
    )
    assert (missing.status_code, missing.json()["code"]) == (404, "account_not_found")

    paid = await pay("WA-100001")
    assert paid["status"] == "succeeded"
    assert (await query("WA-100001"))["amount_due"] == 0

    _fault(sandbox_biller, operation="write_off", mode="refuse", code="account_closed")
    refused = await pay("WA-100002")
    assert (refused["status"], refused["error_code"]) == ("reversed", "account_closed")

    # The biller writes off but every answer is lost: pending, then the job learns it succeeded.
    _fault(sandbox_biller, operation="write_off", mode="error_after", times=3)
    lost = await pay("WA-100003")
    assert lost["status"] == "pending"
    # The biller never acts: pending, then the job learns nothing was recorded and reverses.
    _fault(sandbox_biller, operation="write_off", mode="error", times=3)
    dropped = await pay("WA-100004")
    assert dropped["status"] == "pending"
    await jobs_due_now(sessions, RESOLVE_JOB)
    await run_jobs(app)

    async def status(payment: dict[str, Any]) -> str:
        resp = await partner.call("GET", f"{BASE}/payments/{payment['id']}")
        return str(resp.json()["status"])

    assert await status(lost) == "succeeded"
    assert await status(dropped) == "reversed"
    charged = paid["amount"] + lost["amount"]
    assert await balance(app, sessions, partner.partner_id, customer) == FUNDS - charged
    await assert_ledger_balanced(sessions)

    # The biller's file for the day names exactly the written-off payments, by their ids.
    config = config_of(
        partner.partner_id, {"utilities": {"biller_type": "water", "api_base_url": sandbox_biller}}
    )
    assert config is not None
    biller = await pool_of(app.state.services).client_for(config)
    parsed = parse_file(await biller.reconciliation_file(business_date_of(utcnow())))
    assert parsed.ok, parsed.errors
    assert sorted((r.reference, r.amount, r.type) for r in parsed.rows) == sorted(
        [(paid["id"], paid["amount"], "pay"), (lost["id"], lost["amount"], "pay")]
    )
