"""Helpers for stored-value tests: a merchant with its profile, cards, and the ledger figures."""

from __future__ import annotations

from typing import Any

from litestar import Litestar

from gateway.core_banking.models import SandboxAccount
from gateway.scenarios.payments import payer_for
from gateway.settlement.ledger.service import balances
from tests.conftest import StaffFactory
from tests.partners.support import PartnerHandle, onboard
from tests.scenarios.support import fund, open_owners

BASE = "/v1/scenarios/stored-value"


async def merchant(
    client: Any, staff: StaffFactory, industry: str = "fitness", issuer_class: str = "brand"
) -> PartnerHandle:
    return await onboard(
        client,
        staff,
        webhook_url=None,
        scenarios=["stored_value"],
        scenario_profile={"stored_value": {"industry": industry, "issuer_class": issuer_class}},
    )


async def holders(
    partner: PartnerHandle,
    app: Litestar,
    client: Any,
    staff: StaffFactory,
    count: int,
    seed: int,
    funds: int = 20_000_00,
) -> list[str]:
    """Open ``count`` customers through the partner and fund their accounts."""
    customers = await open_owners(partner, app, "stored_value", count, seed=seed)
    for customer in customers:
        await fund(client, staff, customer, funds)
    return customers


async def card(
    partner: PartnerHandle,
    customer_id: str,
    *,
    named: bool = True,
    product: dict[str, Any] | None = None,
    **extra: Any,
) -> str:
    body = {
        "customer_id": customer_id,
        "named": named,
        "product": product or {"type": "stored_value"},
    }
    resp = await partner.call("POST", f"{BASE}/cards", body | extra)
    assert resp.status_code == 201, resp.text
    return str(resp.json()["id"])


async def top_up(partner: PartnerHandle, card_id: str, amount: int, **extra: Any) -> Any:
    return await partner.call("POST", f"{BASE}/cards/{card_id}/top-ups", {"amount": amount} | extra)


async def consume(partner: PartnerHandle, card_id: str, **body: Any) -> Any:
    return await partner.call("POST", f"{BASE}/cards/{card_id}/consumptions", body)


async def refund(partner: PartnerHandle, card_id: str, amount: int, reason: str) -> Any:
    return await partner.call(
        "POST", f"{BASE}/cards/{card_id}/refunds", {"amount": amount, "reason": reason}
    )


async def escrow(partner: PartnerHandle) -> dict[str, Any]:
    resp = await partner.call("GET", f"{BASE}/escrow")
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


async def ledger_of(sessions: Any, partner_id: str) -> dict[str, int]:
    """The partner's escrow and payable as the ledger has them (credit-normal, shown positive)."""
    async with sessions() as s:
        found = await balances(s)
    return {
        "escrow": -found.get(f"merchant_escrow:{partner_id}", 0),
        "payable": -found.get(f"partner_payable:{partner_id}:stored_value", 0),
    }


async def account_balance(app: Litestar, sessions: Any, partner_id: str, customer_id: str) -> int:
    async with sessions() as s:
        payer = await payer_for(s, app.state.services["vault"], partner_id, customer_id)
        account = await s.get(SandboxAccount, payer.account_no)
    assert account is not None
    return account.balance


async def assert_escrow_agrees_with_ledger(partner: PartnerHandle, sessions: Any) -> None:
    """The escrow view's figures are the ledger's escrow and the sum of the cards' balances."""
    view = await escrow(partner)
    cards = (await partner.call("GET", f"{BASE}/cards?limit=500")).json()["data"]
    assert view["escrow_balance"] == (await ledger_of(sessions, partner.partner_id))["escrow"]
    assert view["outstanding_balance"] == sum(c["balance"] for c in cards)
