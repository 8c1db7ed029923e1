"""Stored-value cards through the API: caps, escrow, releases, reserve, lessons (DESIGN §9)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from litestar import Litestar

from gateway.risk.models import RiskEvent
from tests.conftest import StaffFactory
from tests.scenarios.stored_value.support import (
    BASE,
    account_balance,
    assert_escrow_agrees_with_ledger,
    card,
    consume,
    escrow,
    holders,
    ledger_of,
    merchant,
    top_up,
)
from tests.scenarios.support import assert_ledger_balanced


async def test_top_ups_land_in_escrow_within_the_caps_and_releases_keep_the_reserve(
    client: Any, app: Litestar, staff: StaffFactory, sessions: Any
) -> None:
    partner = await merchant(client, staff, "fitness", "brand")
    alice, bob = await holders(partner, app, client, staff, 2, seed=700)
    named = await card(partner, alice, external_ref="gym-1")
    anonymous = await card(partner, bob, named=False)

    first = await top_up(partner, named, 4_000_00)
    assert first.status_code == 201, first.text
    assert first.json() == {
        "card_id": named,
        "kind": "top_up",
        "amount": 4_000_00,
        "lessons": 0,
        "transaction_id": first.json()["transaction_id"],
        "balance": 4_000_00,
        "lessons_remaining": 0,
        "reason": None,
        "currency": "CNY",
    }
    over = await top_up(partner, named, 1_000_01)
    assert (over.status_code, over.json()["code"]) == (422, "named_balance_cap_exceeded")
    assert (await top_up(partner, named, 1_000_00)).status_code == 201
    over_anon = await top_up(partner, anonymous, 1_000_01)
    assert (over_anon.status_code, over_anon.json()["code"]) == (
        422,
        "anonymous_balance_cap_exceeded",
    )
    assert (await top_up(partner, anonymous, 1_000_00)).status_code == 201
    full = await top_up(partner, anonymous, 1)
    assert full.json()["code"] == "anonymous_balance_cap_exceeded"

    assert await account_balance(app, sessions, partner.partner_id, alice) == 15_000_00
    assert await ledger_of(sessions, partner.partner_id) == {"escrow": 6_000_00, "payable": 0}
    assert await escrow(partner) == {
        "industry": "fitness",
        "issuer_class": "brand",
        "outstanding_balance": 6_000_00,
        "escrow_balance": 6_000_00,
        "required_reserve": 2_400_00,
        "reserve_ratio": 0.4,
        "releasable": 3_600_00,
        "frozen": False,
        "currency": "CNY",
    }

    breach = await consume(partner, named, amount=3_600_01)
    assert (breach.status_code, breach.json()["code"]) == (422, "reserve_breach")
    released = await consume(partner, named, amount=3_600_00)
    assert released.status_code == 201, released.text
    assert released.json()["balance"] == 1_400_00
    assert await ledger_of(sessions, partner.partner_id) == {
        "escrow": 2_400_00,
        "payable": 3_600_00,
    }
    view = await escrow(partner)
    assert (view["required_reserve"], view["releasable"]) == (960_00, 1_440_00)
    too_much = await consume(partner, anonymous, amount=1_000_01)
    assert too_much.json()["code"] == "insufficient_balance"
    await assert_escrow_agrees_with_ledger(partner, sessions)
    balances = await assert_ledger_balanced(sessions)
    assert balances["customer_funds"] == 6_000_00

    got = (await partner.call("GET", f"{BASE}/cards/{named}")).json()
    assert {k: got[k] for k in ("balance", "named", "external_ref", "status", "product")} == {
        "balance": 1_400_00,
        "named": True,
        "external_ref": "gym-1",
        "status": "active",
        "product": {"type": "stored_value", "lessons": None, "term_months": None},
    }
    listed = (await partner.call("GET", f"{BASE}/cards?customer_id={bob}")).json()["data"]
    assert [c["id"] for c in listed] == [anonymous]


async def test_idempotent_retry_moves_money_once(
    client: Any, app: Litestar, staff: StaffFactory, sessions: Any
) -> None:
    partner = await merchant(client, staff, "beauty", "scale")
    [holder] = await holders(partner, app, client, staff, 1, seed=701)
    card_id = await card(partner, holder)
    once = await partner.call(
        "POST", f"{BASE}/cards/{card_id}/top-ups", {"amount": 500_00}, idempotency_key="tu-1"
    )
    again = await partner.call(
        "POST", f"{BASE}/cards/{card_id}/top-ups", {"amount": 500_00}, idempotency_key="tu-1"
    )
    assert once.status_code == again.status_code == 201
    assert again.json() == once.json() and again.headers["idempotent-replayed"] == "true"
    spent = await partner.call(
        "POST", f"{BASE}/cards/{card_id}/consumptions", {"amount": 100_00}, idempotency_key="c-1"
    )
    replay = await partner.call(
        "POST", f"{BASE}/cards/{card_id}/consumptions", {"amount": 100_00}, idempotency_key="c-1"
    )
    assert replay.json() == spent.json()
    assert (await partner.call("GET", f"{BASE}/cards/{card_id}")).json()["balance"] == 400_00
    assert await account_balance(app, sessions, partner.partner_id, holder) == 19_500_00
    assert await ledger_of(sessions, partner.partner_id) == {"escrow": 400_00, "payable": 100_00}
    await assert_ledger_balanced(sessions)


async def test_education_caps_per_charge_and_releases_lesson_by_lesson(
    client: Any, app: Litestar, staff: StaffFactory, sessions: Any
) -> None:
    partner = await merchant(client, staff, "education", "scale")
    kid, teen = await holders(partner, app, client, staff, 2, seed=702)
    package = await card(partner, kid, product={"type": "lesson_package", "lessons": 20})
    term = await card(partner, teen, product={"type": "membership", "term_months": 4})

    sixty_one = await top_up(partner, package, 3_000_00, lessons=61)
    assert (sixty_one.status_code, sixty_one.json()["code"]) == (
        422,
        "lessons_per_charge_exceeded",
    )
    four_months = await top_up(partner, term, 1_200_00)
    assert (four_months.status_code, four_months.json()["code"]) == (
        422,
        "term_per_charge_exceeded",
    )
    three = await top_up(partner, term, 900_00, term_months=3)
    assert three.status_code == 201 and three.json()["balance"] == 900_00
    wrong_unit = await top_up(partner, term, 100_00, lessons=2)
    assert (wrong_unit.status_code, wrong_unit.json()["code"]) == (422, "validation_error")
    bought = await top_up(partner, package, 1_000_00)  # the package's 20 lessons at ¥50
    assert bought.json()["lessons_remaining"] == 20

    no_lessons = await consume(partner, package, amount=50_00)
    assert no_lessons.status_code == 422
    mismatch = await consume(partner, package, lessons=3, amount=140_00)
    assert (mismatch.status_code, mismatch.json()["code"]) == (422, "amount_mismatch")
    three_lessons = await consume(partner, package, lessons=3)
    assert three_lessons.status_code == 201, three_lessons.text
    assert (
        three_lessons.json()["amount"],
        three_lessons.json()["lessons"],
        three_lessons.json()["balance"],
        three_lessons.json()["lessons_remaining"],
    ) == (150_00, 3, 850_00, 17)
    too_many = await consume(partner, package, lessons=18)
    assert too_many.json()["code"] == "lessons_exceed_remaining"
    assert (await consume(partner, package, lessons=17, amount=850_00)).json()["balance"] == 0
    assert await ledger_of(sessions, partner.partner_id) == {
        "escrow": 900_00,
        "payable": 1_000_00,
    }
    view = await escrow(partner)
    assert (view["reserve_ratio"], view["required_reserve"], view["releasable"]) == (
        1.0,
        900_00,
        0,
    )
    # education releases what was consumed, whatever the reserve figure says
    assert (await consume(partner, term, amount=300_00)).status_code == 201
    await assert_escrow_agrees_with_ledger(partner, sessions)
    await assert_ledger_balanced(sessions)


async def test_odd_lesson_values_release_exactly_the_package(
    client: Any, app: Litestar, staff: StaffFactory, sessions: Any
) -> None:
    partner = await merchant(client, staff, "education", "group")
    [kid] = await holders(partner, app, client, staff, 1, seed=703)
    package = await card(partner, kid, product={"type": "lesson_package", "lessons": 3})
    await top_up(partner, package, 100_00)  # 33.33… a lesson
    amounts = [(await consume(partner, package, lessons=1)).json()["amount"] for _ in range(3)]
    assert amounts == [33_33, 33_34, 33_33] and sum(amounts) == 100_00
    assert await ledger_of(sessions, partner.partner_id) == {"escrow": 0, "payable": 100_00}


async def test_bad_input_and_foreign_partner(
    client: Any, app: Litestar, staff: StaffFactory
) -> None:
    partner = await merchant(client, staff)
    other = await merchant(client, staff)
    [holder] = await holders(partner, app, client, staff, 1, seed=704)
    card_id = await card(partner, holder)
    assert (await top_up(partner, card_id, 100_00)).status_code == 201

    for body in (
        {"customer_id": holder, "named": True, "product": {"type": "lesson_package"}},
        {"customer_id": holder, "named": True, "product": {"type": "stored_value", "lessons": 2}},
        {"customer_id": holder, "named": True, "product": {"type": "gift"}},
    ):
        bad = await partner.call("POST", f"{BASE}/cards", body)
        assert bad.status_code in (400, 422), bad.text
    assert (await top_up(partner, card_id, 0)).status_code in (400, 422)
    dup = await partner.call(
        "POST",
        f"{BASE}/cards",
        {"customer_id": holder, "named": True, "product": {"type": "stored_value"}},
    )
    assert dup.status_code == 201

    assert (await other.call("GET", f"{BASE}/cards/{card_id}")).status_code == 404
    assert (await top_up(other, card_id, 100_00)).status_code == 404
    assert (await consume(other, card_id, amount=1)).status_code == 404
    refund = await other.call(
        "POST", f"{BASE}/cards/{card_id}/refunds", {"amount": 1, "reason": "other"}
    )
    assert refund.status_code == 404
    assert (await other.call("GET", f"{BASE}/cards")).json()["data"] == []
    foreign_customer = await other.call(
        "POST",
        f"{BASE}/cards",
        {"customer_id": holder, "named": True, "product": {"type": "stored_value"}},
    )
    assert foreign_customer.status_code == 404
    assert (await escrow(other))["outstanding_balance"] == 0
    community = await client.get("/v1/scenarios/stored-value/escrow")
    assert community.status_code == 401


async def test_a_release_is_scored_by_the_risk_engine_before_the_money_moves(
    client: Any, app: Litestar, staff: StaffFactory, sessions: Any
) -> None:
    """Escrow rules (``escrow_drain``) read release events: a consumption logs one, with its
    transaction, as a top-up logs a transaction event."""
    partner = await merchant(client, staff, "fitness", "brand")
    (holder,) = await holders(partner, app, client, staff, 1, seed=731)
    card_id = await card(partner, holder)
    assert (await top_up(partner, card_id, 2_000_00)).status_code == 201
    released = await consume(partner, card_id, amount=300_00)
    assert released.status_code == 201, released.text
    async with sessions() as session:
        events = (
            await session.execute(
                sa.select(RiskEvent.event_type, RiskEvent.amount, RiskEvent.txn_id).where(
                    RiskEvent.partner_id == partner.partner_id,
                    RiskEvent.event_type != "account_opening",
                )
            )
        ).all()
    assert sorted((kind, amount) for kind, amount, _ in events) == [
        ("release", 300_00),
        ("transaction", 2_000_00),
    ]
    assert (
        next(txn for kind, _, txn in events if kind == "release")
        == released.json()["transaction_id"]
    )
