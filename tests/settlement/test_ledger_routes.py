"""GET /admin/v1/ledger/trial-balance: finance and auditors read the ledger's balances (§10)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.settlement.ledger.accounts import AccountType, account
from gateway.settlement.ledger.service import post_journal
from tests.conftest import StaffFactory

PATH = "/admin/v1/ledger/trial-balance"
T0 = datetime(2025, 11, 22, 2, 0, tzinfo=UTC)
CUSTOMERS = account(AccountType.CUSTOMER_FUNDS)
ESCROW = account(AccountType.MERCHANT_ESCROW, "ptn_a")
PAYABLE = account(AccountType.PARTNER_PAYABLE, "ptn_a", "stored_value")


@pytest.fixture
async def _stored_value_day(sessions: async_sessionmaker[AsyncSession]) -> None:
    """A top-up into escrow at T0, then half of it released to the merchant an hour later."""
    async with sessions() as session:
        await post_journal(
            session,
            reference="topup",
            kind="stored_value.top_up",
            lines=[(CUSTOMERS, 10_000), (ESCROW, -10_000)],
            occurred_at=T0,
        )
        await post_journal(
            session,
            reference="release",
            kind="stored_value.release",
            lines=[(ESCROW, 5_000), (PAYABLE, -5_000)],
            occurred_at=T0 + timedelta(hours=1),
        )
        await session.commit()


@pytest.mark.usefixtures("_stored_value_day")
@pytest.mark.parametrize("role", ["finance", "auditor"])
async def test_finance_and_auditors_read_the_trial_balance(
    client: Any, staff: StaffFactory, role: str
) -> None:
    resp = await client.get(PATH, headers=await staff.token("reader", role))
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["accounts"] == [
        {"account": CUSTOMERS, "balance": 10_000},
        {"account": ESCROW, "balance": -5_000},
        {"account": PAYABLE, "balance": -5_000},
    ]
    assert (body["total"], body["currency"]) == (0, "CNY")
    assert abs(datetime.fromisoformat(body["as_of"]) - datetime.now(UTC)) < timedelta(minutes=1)


@pytest.mark.usefixtures("_stored_value_day")
async def test_as_of_includes_what_occurred_up_to_that_moment(
    client: Any, staff: StaffFactory
) -> None:
    headers = await staff.token("fin", "finance")
    resp = await client.get(PATH, params={"as_of": "2025-11-22T10:30:00+08:00"}, headers=headers)
    assert resp.status_code == 200, resp.text
    assert resp.json() == {
        "as_of": "2025-11-22T02:30:00Z",
        "accounts": [
            {"account": CUSTOMERS, "balance": 10_000},
            {"account": ESCROW, "balance": -10_000},
        ],
        "total": 0,
        "currency": "CNY",
    }


async def test_an_as_of_without_offset_is_refused(client: Any, staff: StaffFactory) -> None:
    headers = await staff.token("fin", "finance")
    resp = await client.get(PATH, params={"as_of": "2025-11-22T10:30:00"}, headers=headers)
    assert resp.status_code == 422, resp.text
    assert resp.json()["errors"][0]["field"] == "as_of"


async def test_other_roles_and_strangers_are_refused(client: Any, staff: StaffFactory) -> None:
    resp = await client.get(PATH, headers=await staff.token("maker", "ops_maker"))
    assert (resp.status_code, resp.json()["code"]) == (403, "role_required")
    assert (await client.get(PATH)).status_code == 401
