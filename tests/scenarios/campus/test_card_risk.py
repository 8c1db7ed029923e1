"""Campus card payments are scored inline like every scenario payment (DESIGN §8): a block
refuses the payment with the card untouched, a review pays and holds the transaction."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from litestar import Litestar

from gateway.risk import held_transaction_ids
from gateway.risk.models import RiskEvent
from gateway.scenarios.models import Transaction
from tests.conftest import StaffFactory
from tests.risk.support import publish_rule
from tests.scenarios.campus.support import BASE, freshmen, merchant, university
from tests.scenarios.support import assert_ledger_balanced, fund


def _rule(rule_id: str, expression: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": rule_id,
        "event_type": "transaction",
        "description": rule_id,
        "expression": expression,
        "subject": "merchant",
    } | extra


async def test_card_payments_are_scored_blocked_and_held(
    client: Any, app: Litestar, staff: StaffFactory, sessions: Any
) -> None:
    partner = await university(client, staff)
    card = (await freshmen(partner, app, seed=821, students=1, staff=0))["S001"]
    shop = await merchant(partner, "shop-1", "shop")
    await fund(client, staff, card["customer_id"], 1_000_00)
    top_up = await partner.call("POST", f"{BASE}/cards/{card['id']}/top-ups", {"amount": 900_00})
    assert top_up.status_code == 201, top_up.text
    await publish_rule(
        client,
        staff,
        _rule("campus_big", "event.scenario == 'campus' && event.amount >= 50000"),
        "a",
    )
    await publish_rule(
        client,
        staff,
        _rule("campus_huge", "event.amount >= 80000", severity="block"),
        "b",
    )
    payment = {"card_id": card["id"], "merchant_id": shop, "terminal_id": "POS-1"}

    blocked = await partner.call("POST", f"{BASE}/payments", payment | {"amount": 800_00})
    assert (blocked.status_code, blocked.json()["code"]) == (422, "risk_blocked")
    still = await partner.call("GET", f"{BASE}/cards/{card['id']}")
    assert still.json()["balance"] == 900_00

    lunch = await partner.call("POST", f"{BASE}/payments", payment | {"amount": 12_50})
    assert lunch.status_code == 201, lunch.text
    held = await partner.call("POST", f"{BASE}/payments", payment | {"amount": 500_00})
    assert held.status_code == 201, held.text
    assert held.json()["balance"] == 900_00 - 12_50 - 500_00
    async with sessions() as s:
        assert await held_transaction_ids(s) == {held.json()["id"]}
        logged = (
            await s.execute(
                sa.select(RiskEvent.txn_id, RiskEvent.merchant, RiskEvent.card_id).order_by(
                    RiskEvent.occurred_at
                )
            )
        ).all()
        kinds = (await s.scalars(sa.select(Transaction.kind).order_by(Transaction.id))).all()
    assert [tuple(r) for r in logged if r[1] == shop] == [
        (lunch.json()["id"], shop, card["id"]),
        (held.json()["id"], shop, card["id"]),
    ]
    assert kinds.count("card_payment") == 2
    analyst = await staff.token("analyst-campus", "risk_analyst")
    [case] = (await client.get("/admin/v1/risk/cases?rule=campus_big", headers=analyst)).json()[
        "data"
    ]
    assert case["subject"] == {"type": "merchant", "id": shop}
    assert case["holds"] == [held.json()["id"]]
    await assert_ledger_balanced(sessions)
