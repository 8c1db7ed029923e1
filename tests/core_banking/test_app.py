"""The standalone sandbox core's wire protocol, in process, and its committed OpenAPI document."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.core_banking.app import create_sandbox_core_app, export_openapi
from tests.core_banking.conftest import person

OPENAPI = Path(__file__).resolve().parents[2] / "openapi" / "core-banking.json"
Client = AsyncTestClient[Litestar]


@pytest.fixture
async def wire(
    database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> AsyncIterator[Client]:
    # ``sessions`` is requested so PostgreSQL is truncated after the test like everywhere else.
    async with AsyncTestClient(app=create_sandbox_core_app(database_url)) as client:
        yield client


async def _accounts(wire: Client, funds: int) -> tuple[str, str]:
    opened = await wire.post(
        "/v1/accounts",
        json={
            "reference": "acc-1",
            "customer_ref": "cus_1",
            "name": "张三",
            "id_number_hash": person(1),
        },
    )
    assert opened.status_code == 200, opened.text
    merchant = await wire.post(
        "/sandbox/internal-accounts", json={"reference": "m-1", "name": "加油站结算户"}
    )
    account_no = opened.json()["account_no"]
    funded = await wire.post(
        f"/sandbox/accounts/{account_no}/deposits", json={"reference": "f-1", "amount": funds}
    )
    assert funded.json()["ok"]
    return account_no, merchant.json()["account_no"]


def _debit(account_no: str, amount: int, reference: str = "d-1") -> dict[str, Any]:
    return {"reference": reference, "account_no": account_no, "amount": amount, "purpose": "x"}


async def test_movements_answer_their_outcome_and_refusals_are_problems(wire: Client) -> None:
    account, merchant = await _accounts(wire, funds=1_000)

    paid = await wire.post("/v1/debits", json=_debit(account, 600))
    again = await wire.post("/v1/debits", json=_debit(account, 600))
    refused = await wire.post("/v1/debits", json=_debit(account, 600, reference="d-2"))

    assert paid.status_code == again.status_code == 200
    assert paid.json() == again.json()
    assert paid.json()["status"] == "succeeded"
    assert refused.status_code == 422
    assert refused.headers["content-type"] == "application/problem+json"
    body = refused.json()
    assert body["code"] == "insufficient_funds"
    assert body["reference"] == "d-2"
    assert body["core_reference"].startswith("SBX")
    assert body["request_id"] == refused.headers["x-request-id"]
    # The refusal was committed as the reference's outcome, not rolled back with the 422.
    recorded = await wire.get("/v1/movements/d-2")
    assert recorded.status_code == 200
    assert recorded.json()["error_code"] == "insufficient_funds"
    state = await wire.get(f"/sandbox/accounts/{account}")
    assert state.json()["balance"] == 400
    assert merchant.startswith("9100")


async def test_instructions_the_core_cannot_take(wire: Client) -> None:
    account, _ = await _accounts(wire, funds=1_000)
    await wire.post("/v1/debits", json=_debit(account, 100))

    reused = await wire.post("/v1/debits", json=_debit(account, 200))
    same = await wire.post(
        "/v1/transfers",
        json={"reference": "t", "from_account": account, "to_account": account, "amount": 1},
    )
    zero = await wire.post("/v1/debits", json=_debit(account, 0, reference="z"))
    raw_id = await wire.post(
        "/v1/accounts",
        json={
            "reference": "acc-2",
            "customer_ref": "cus_2",
            "name": "李四",
            "id_number_hash": "11010119900307425X",
        },
    )
    unknown = await wire.get("/v1/movements/never-sent")
    missing = await wire.post("/sandbox/accounts/6222000000000000000/freeze")

    assert (reused.status_code, reused.json()["code"]) == (409, "reference_conflict")
    assert (same.status_code, same.json()["code"]) == (422, "same_account")
    assert (zero.status_code, zero.json()["code"]) == (422, "validation_error")
    assert (raw_id.status_code, raw_id.json()["code"]) == (422, "validation_error")
    assert (unknown.status_code, unknown.json()["code"]) == (404, "reference_not_found")
    assert (missing.status_code, missing.json()["code"]) == (404, "account_not_found")


async def test_freezing_over_the_wire(wire: Client) -> None:
    account, merchant = await _accounts(wire, funds=1_000)

    frozen = await wire.post(f"/sandbox/accounts/{account}/freeze")
    refused = await wire.post(
        "/v1/transfers",
        json={"reference": "t", "from_account": account, "to_account": merchant, "amount": 1},
    )
    await wire.post(f"/sandbox/accounts/{account}/unfreeze")
    paid = await wire.post(
        "/v1/transfers",
        json={"reference": "t2", "from_account": account, "to_account": merchant, "amount": 1},
    )

    assert frozen.json()["status"] == "frozen"
    assert refused.json()["code"] == "account_frozen"
    assert paid.json()["ok"]


def test_the_committed_openapi_document_matches_the_app() -> None:
    assert OPENAPI.read_text(encoding="utf-8") == export_openapi(), (
        "openapi/core-banking.json is stale: write export_openapi() to it"
    )
