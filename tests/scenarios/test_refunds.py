"""The shared refund (gateway.scenarios.payments.refund): partial refunds of a discounted
payment give the campaign back exactly its subsidy and the payer the rest, never more."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from litestar import Litestar

from gateway.core_banking import SandboxCore
from gateway.core_banking.models import SandboxAccount
from gateway.errors import BusinessRuleViolation
from gateway.scenarios.models import Transaction
from gateway.scenarios.payments import RefundExceedsPaid, payer_for, refund
from tests.conftest import StaffFactory
from tests.partners.support import onboard
from tests.scenarios.support import assert_ledger_balanced, fund, open_owners
from tests.scenarios.test_community import BASE, _bills, _community
from tests.scenarios.test_community_discount import _campaign


async def _refund(app: Litestar, sessions: Any, payment_id: str, amount: int, ref: str) -> int:
    """Refund through the service in its own unit of work; the refund row's subsidy share."""
    async with sessions() as s:
        payment = await s.get(Transaction, payment_id)
        assert payment is not None
        vault = app.state.services["vault"]
        payer = await payer_for(s, vault, payment.partner_id, str(payment.customer_id))
        txn = await refund(
            s,
            SandboxCore(s),
            payment=payment,
            payer=payer,
            amount=amount,
            reference=ref,
            purpose="test refund",
        )
        await s.commit()
        return txn.subsidy


async def test_partial_refunds_split_the_subsidy_exactly_and_stop_at_the_amount(
    client: Any, app: Litestar, staff: StaffFactory, sessions: Any
) -> None:
    partner = await onboard(client, staff, webhook_url=None)
    community_id = await _community(partner)
    [owner] = await open_owners(partner, app, "community", 1, seed=400, sub_channel=community_id)
    [bill] = await _bills(partner, community_id, [owner], 300_00, "2026-11")
    campaign_id = await _campaign(client, staff, partner.partner_id, budget=100_00)
    await fund(client, staff, owner, 1_000_00)
    paid = await partner.call("POST", f"{BASE}/payments", {"bill_id": bill, "customer_id": owner})
    assert paid.json()["discount"] == 20_00

    assert await _refund(app, sessions, paid.json()["id"], 100_00, "r1") == 6_67
    assert await _refund(app, sessions, paid.json()["id"], 200_00, "r2") == 13_33
    with pytest.raises(RefundExceedsPaid):
        await _refund(app, sessions, paid.json()["id"], 1, "r3")

    balances = await assert_ledger_balanced(sessions)
    for name in (
        f"partner_payable:{partner.partner_id}:community",
        f"subsidy_budget:{campaign_id}",
    ):
        assert balances.get(name, 0) == 0, name
    assert balances.get("customer_funds", 0) == 0
    async with sessions() as s:
        payer = await payer_for(s, app.state.services["vault"], partner.partner_id, owner)
        account = await s.get(SandboxAccount, payer.account_no)
        payment = await s.get(Transaction, paid.json()["id"])
    assert account is not None and account.balance == 1_000_00
    assert payment is not None and payment.refunded == 300_00
    manager = await staff.token("cm-refunds", "channel_manager")
    campaign = (await client.get(f"/admin/v1/campaigns/{campaign_id}", headers=manager)).json()
    assert campaign["spent"] == 0

    async with sessions() as s:
        refund_row = await s.scalar(
            sa.select(Transaction).where(Transaction.kind == "refund").limit(1)
        )
    assert refund_row is not None
    with pytest.raises(BusinessRuleViolation):
        await _refund(app, sessions, refund_row.id, 1, "r4")
