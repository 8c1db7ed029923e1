"""Bill queries and payments through the API, the biller mocked with respx at its base URL.

Every branch of a payment: written off, definitely refused (冲正, money back), never reached,
timed out (pending, then resolved by the job either way), and retried with the same key.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import respx
from litestar import Litestar
from sqlmodel import col, select

from gateway.scenarios.models import Transaction
from gateway.scenarios.utilities.service import RESOLVE_JOB
from tests.conftest import StaffFactory, run_jobs
from tests.partners.support import PartnerHandle, onboard
from tests.scenarios.support import assert_ledger_balanced, fund, open_owners
from tests.scenarios.utilities.support import (
    ACCOUNT,
    BASE,
    BILLER,
    balance,
    bill,
    echo_write_off,
    events,
    jobs_due_now,
    onboard_biller,
    problem,
    quick_billers,
    written_off,
)

AMOUNT = 123_45
FUNDS = 1_000_00


def _bill_of_account(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json=bill(request.url.params["account_no"], amount=AMOUNT))


@pytest.fixture
def biller() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=BILLER, assert_all_called=False) as router:
        router.get("/v1/bills", name="query").mock(side_effect=_bill_of_account)
        yield router


async def _biller_and_customer(
    client: Any, app: Litestar, staff: StaffFactory, seed: int
) -> tuple[PartnerHandle, str]:
    partner = await onboard_biller(client, staff)
    [customer] = await open_owners(partner, app, "utilities", 1, seed=seed)
    await fund(client, staff, customer, FUNDS)
    return partner, customer


def _payment(partner: PartnerHandle, customer: str, **overrides: Any) -> dict[str, Any]:
    body = {
        "biller_id": partner.partner_id,
        "account_no": ACCOUNT,
        "bill_key": "2026-11-EL1",
        "amount": AMOUNT,
        "customer_id": customer,
    }
    return body | overrides


async def _transactions(sessions: Any, partner_id: str) -> list[tuple[str, int]]:
    async with sessions() as s:
        rows = await s.scalars(
            select(Transaction)
            .where(col(Transaction.partner_id) == partner_id)
            .order_by(col(Transaction.id))
        )
        return [(t.kind, t.amount) for t in rows.all()]


async def test_a_bill_query_answers_the_bill_with_the_holder_masked(
    client: Any, staff: StaffFactory, biller: respx.MockRouter
) -> None:
    partner = await onboard_biller(client, staff)

    resp = await partner.call(
        "GET", f"{BASE}/bills?biller_id={partner.partner_id}&account_no={ACCOUNT}"
    )

    assert resp.status_code == 200, resp.text
    assert resp.json() == {
        "biller_id": partner.partner_id,
        "account_no": ACCOUNT,
        "bill_key": "2026-11-EL1",
        "holder_name": "王**",
        "amount_due": AMOUNT,
        "period": "2026-11",
        "currency": "CNY",
    }
    malformed = await partner.call(
        "GET", f"{BASE}/bills?biller_id={partner.partner_id}&account_no=bad%20no"
    )
    assert (malformed.status_code, malformed.json()["errors"][0]["field"]) == (422, "account_no")
    assert biller["query"].call_count == 1
    sent = biller["query"].calls.last.request
    assert sent.url.params["account_no"] == ACCOUNT
    assert "signature-input" in sent.headers  # the gateway signs its calls to the biller


async def test_bill_queries_are_limited_per_account_number(
    client: Any, staff: StaffFactory, biller: respx.MockRouter
) -> None:
    partner = await onboard_biller(client, staff)
    path = f"{BASE}/bills?biller_id={partner.partner_id}&account_no="

    answers = [(await partner.call("GET", path + ACCOUNT)).status_code for _ in range(11)]
    limited = await partner.call("GET", path + ACCOUNT)
    other = await partner.call("GET", path + "EL-2026-0002")

    assert answers == [200] * 10 + [429]
    assert limited.status_code == 429
    assert limited.json()["code"] == "rate_limited"
    assert int(limited.headers["retry-after"]) >= 1
    assert other.status_code == 200  # another account has its own budget
    assert biller["query"].call_count == 11


async def test_a_foreign_or_unknown_biller_answers_404(
    client: Any, app: Litestar, staff: StaffFactory, biller: respx.MockRouter
) -> None:
    partner, customer = await _biller_and_customer(client, app, staff, seed=901)
    biller.post("/v1/write-offs").mock(side_effect=echo_write_off)
    other = await onboard_biller(client, staff)
    community = await onboard(client, staff, webhook_url=None)

    foreign = await other.call(
        "GET", f"{BASE}/bills?biller_id={partner.partner_id}&account_no={ACCOUNT}"
    )
    foreign_pay = await other.call("POST", f"{BASE}/payments", _payment(partner, customer))
    own_biller_foreign_customer = await other.call(
        "POST", f"{BASE}/payments", _payment(other, customer)
    )
    paid = await partner.call("POST", f"{BASE}/payments", _payment(partner, customer))
    # no scope for the scenario at all
    no_scope = await community.call(
        "GET", f"{BASE}/bills?biller_id={community.partner_id}&account_no={ACCOUNT}"
    )

    assert (foreign.status_code, foreign.json()["code"]) == (404, "biller_not_found")
    assert (foreign_pay.status_code, foreign_pay.json()["code"]) == (404, "biller_not_found")
    assert own_biller_foreign_customer.status_code == 404
    assert no_scope.status_code == 403
    assert paid.status_code == 201
    assert (await other.call("GET", f"{BASE}/payments/{paid.json()['id']}")).status_code == 404
    assert biller["query"].call_count == 1  # only the owner's own payment reached the biller


async def test_a_written_off_payment_succeeds(
    client: Any, app: Litestar, staff: StaffFactory, sessions: Any, biller: respx.MockRouter
) -> None:
    partner, customer = await _biller_and_customer(client, app, staff, seed=902)
    route = biller.post("/v1/write-offs").mock(side_effect=echo_write_off)

    resp = await partner.call("POST", f"{BASE}/payments", _payment(partner, customer))

    assert resp.status_code == 201, resp.text
    body = resp.json()
    assert body["status"] == "succeeded"
    assert body["biller_reference"] == "BL0001"
    assert json.loads(route.calls.last.request.content) == {
        "reference": body["id"],
        "account_no": ACCOUNT,
        "bill_key": "2026-11-EL1",
        "amount": AMOUNT,
        "currency": "CNY",
    }
    assert await balance(app, sessions, partner.partner_id, customer) == FUNDS - AMOUNT
    balances = await assert_ledger_balanced(sessions)
    assert balances[f"partner_payable:{partner.partner_id}:utilities"] == -AMOUNT
    [event] = await events(sessions, partner.partner_id, "payment.")
    assert event.type == "payment.succeeded"
    assert event.data["payment_id"] == body["id"]
    assert event.data["transaction_id"] == body["transaction_id"]
    listed = await partner.call("GET", f"{BASE}/payments?status=succeeded")
    assert [p["id"] for p in listed.json()["data"]] == [body["id"]]


async def test_a_definite_write_off_failure_reverses_the_debit(
    client: Any, app: Litestar, staff: StaffFactory, sessions: Any, biller: respx.MockRouter
) -> None:
    partner, customer = await _biller_and_customer(client, app, staff, seed=903)
    route = biller.post("/v1/write-offs").mock(return_value=problem(422, "bill_already_paid"))

    resp = await partner.call("POST", f"{BASE}/payments", _payment(partner, customer))

    assert resp.status_code == 201, resp.text
    body = resp.json()
    assert (body["status"], body["error_code"]) == ("reversed", "bill_already_paid")
    assert body["reversal_transaction_id"] is not None
    assert route.call_count == 1
    assert await balance(app, sessions, partner.partner_id, customer) == FUNDS
    balances = await assert_ledger_balanced(sessions)
    assert balances.get(f"partner_payable:{partner.partner_id}:utilities", 0) == 0
    assert balances.get("customer_funds", 0) == 0
    assert await _transactions(sessions, partner.partner_id) == [
        ("payment", AMOUNT),
        ("refund", AMOUNT),
    ]
    [event] = await events(sessions, partner.partner_id, "payment.")
    assert event.type == "payment.reversed"
    assert event.data["reason"] == "bill_already_paid"
    assert event.data["reversal_transaction_id"] == body["reversal_transaction_id"]


async def test_a_biller_never_reached_reverses_the_debit(
    client: Any, app: Litestar, staff: StaffFactory, sessions: Any, biller: respx.MockRouter
) -> None:
    partner, customer = await _biller_and_customer(client, app, staff, seed=904)
    biller.post("/v1/write-offs").mock(side_effect=httpx.ConnectError("refused"))

    resp = await partner.call("POST", f"{BASE}/payments", _payment(partner, customer))

    assert (resp.json()["status"], resp.json()["error_code"]) == ("reversed", "biller_unavailable")
    assert await balance(app, sessions, partner.partner_id, customer) == FUNDS
    await assert_ledger_balanced(sessions)


async def debit_status(sessions: Any, payment_id: str) -> str:
    """The status of the debit a utilities payment made (its ``external_ref`` is the payment)."""
    async with sessions() as s:
        return str(
            await s.scalar(
                select(col(Transaction.status)).where(
                    col(Transaction.external_ref) == payment_id,
                    col(Transaction.kind) == "payment",
                )
            )
        )


async def test_a_timeout_leaves_the_payment_pending_until_the_biller_says_written_off(
    client: Any, app: Litestar, staff: StaffFactory, sessions: Any, biller: respx.MockRouter
) -> None:
    quick_billers(app)  # the breaker opened by these failures lets the next job probe at once
    partner, customer = await _biller_and_customer(client, app, staff, seed=905)
    biller.post("/v1/write-offs").mock(side_effect=httpx.ReadTimeout("slow"))

    resp = await partner.call("POST", f"{BASE}/payments", _payment(partner, customer))

    assert resp.status_code == 201, resp.text
    payment = resp.json()
    assert payment["status"] == "pending"
    assert await balance(app, sessions, partner.partner_id, customer) == FUNDS - AMOUNT
    assert await events(sessions, partner.partner_id, "payment.") == []
    assert await debit_status(sessions, payment["id"]) == "pending"  # out of settlement

    status = biller.get(f"/v1/write-offs/{payment['id']}")
    status.side_effect = [
        httpx.Response(503),
        httpx.Response(503),
        httpx.Response(503),  # the biller cannot say yet: the job tries again later
        httpx.Response(
            200, json=written_off(_payment(partner, customer) | {"reference": payment["id"]})
        ),
    ]
    assert await jobs_due_now(sessions, RESOLVE_JOB) == 1
    await run_jobs(app)
    still = await partner.call("GET", f"{BASE}/payments/{payment['id']}")
    assert still.json()["status"] == "pending"

    assert await jobs_due_now(sessions, RESOLVE_JOB) == 1
    await run_jobs(app)

    done = (await partner.call("GET", f"{BASE}/payments/{payment['id']}")).json()
    assert done["status"] == "succeeded"
    assert await debit_status(sessions, payment["id"]) == "succeeded"
    assert done["resolved_at"] is not None
    assert await balance(app, sessions, partner.partner_id, customer) == FUNDS - AMOUNT
    [event] = await events(sessions, partner.partner_id, "payment.")
    assert event.type == "payment.succeeded"
    await assert_ledger_balanced(sessions)


async def test_a_timeout_the_biller_never_recorded_is_reversed(
    client: Any, app: Litestar, staff: StaffFactory, sessions: Any, biller: respx.MockRouter
) -> None:
    partner, customer = await _biller_and_customer(client, app, staff, seed=906)
    biller.post("/v1/write-offs").respond(504)
    resp = await partner.call("POST", f"{BASE}/payments", _payment(partner, customer))
    payment_id = resp.json()["id"]
    assert resp.json()["status"] == "pending"
    biller.get(f"/v1/write-offs/{payment_id}").mock(
        return_value=problem(404, "reference_not_found")
    )

    await jobs_due_now(sessions, RESOLVE_JOB)
    await run_jobs(app)

    done = (await partner.call("GET", f"{BASE}/payments/{payment_id}")).json()
    assert (done["status"], done["error_code"]) == ("reversed", "reference_not_found")
    assert await debit_status(sessions, payment_id) == "reversed"
    assert await balance(app, sessions, partner.partner_id, customer) == FUNDS
    [event] = await events(sessions, partner.partner_id, "payment.")
    assert event.type == "payment.reversed"
    await assert_ledger_balanced(sessions)


async def test_a_retry_with_the_same_key_pays_once(
    client: Any, app: Litestar, staff: StaffFactory, sessions: Any, biller: respx.MockRouter
) -> None:
    partner, customer = await _biller_and_customer(client, app, staff, seed=907)
    route = biller.post("/v1/write-offs").mock(side_effect=echo_write_off)
    body = _payment(partner, customer)

    first = await partner.call("POST", f"{BASE}/payments", body, idempotency_key="pay-bill-1")
    again = await partner.call("POST", f"{BASE}/payments", body, idempotency_key="pay-bill-1")

    assert first.status_code == again.status_code == 201
    assert again.headers.get("idempotent-replayed") == "true"
    assert again.json()["id"] == first.json()["id"]
    assert route.call_count == 1
    assert await balance(app, sessions, partner.partner_id, customer) == FUNDS - AMOUNT
    assert await _transactions(sessions, partner.partner_id) == [("payment", AMOUNT)]


async def test_a_bill_that_does_not_match_is_refused_before_any_debit(
    client: Any, app: Litestar, staff: StaffFactory, sessions: Any, biller: respx.MockRouter
) -> None:
    partner, customer = await _biller_and_customer(client, app, staff, seed=908)
    route = biller.post("/v1/write-offs").mock(side_effect=echo_write_off)

    wrong_amount = await partner.call(
        "POST", f"{BASE}/payments", _payment(partner, customer, amount=AMOUNT + 1)
    )
    changed = await partner.call(
        "POST", f"{BASE}/payments", _payment(partner, customer, bill_key="2026-10-EL1")
    )
    malformed = await partner.call(
        "POST", f"{BASE}/payments", _payment(partner, customer, amount=0, account_no="x")
    )

    assert (wrong_amount.status_code, wrong_amount.json()["code"]) == (422, "amount_mismatch")
    assert (changed.status_code, changed.json()["code"]) == (409, "bill_changed")
    assert malformed.status_code == 422
    assert malformed.json()["errors"][0]["field"] in {"amount", "account_no"}
    assert route.call_count == 0
    assert await balance(app, sessions, partner.partner_id, customer) == FUNDS


async def test_a_declined_debit_never_reaches_the_biller(
    client: Any, app: Litestar, staff: StaffFactory, sessions: Any, biller: respx.MockRouter
) -> None:
    partner = await onboard_biller(client, staff)
    [customer] = await open_owners(partner, app, "utilities", 1, seed=909)
    route = biller.post("/v1/write-offs").mock(side_effect=echo_write_off)

    resp = await partner.call("POST", f"{BASE}/payments", _payment(partner, customer))

    assert (resp.status_code, resp.json()["code"]) == (422, "insufficient_funds")
    assert route.call_count == 0
    assert await _transactions(sessions, partner.partner_id) == []
