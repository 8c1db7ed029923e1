"""Refunds from escrow: the 7-day cooling-off, closure and other refunds (DESIGN §9)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from litestar import Litestar

from gateway.db import utcnow
from gateway.scenarios.models import Transaction
from gateway.scenarios.stored_value.models import Movement
from tests.conftest import StaffFactory
from tests.scenarios.stored_value.support import (
    account_balance,
    assert_escrow_agrees_with_ledger,
    card,
    consume,
    holders,
    ledger_of,
    merchant,
    refund,
    top_up,
)
from tests.scenarios.support import assert_ledger_balanced


async def _age_top_ups(sessions: Any, card_id: str, days: int) -> None:
    async with sessions() as s:
        await s.execute(
            sa.update(Movement)
            .where(Movement.card_id == card_id, Movement.kind == "top_up")
            .values(occurred_at=utcnow() - timedelta(days=days))
        )
        await s.commit()


async def test_cooling_off_refunds_the_full_top_up_until_a_consumption(
    client: Any, app: Litestar, staff: StaffFactory, sessions: Any
) -> None:
    partner = await merchant(client, staff, "beauty", "group")
    alice, bob = await holders(partner, app, client, staff, 2, seed=710)
    fresh = await card(partner, alice)
    used = await card(partner, bob)
    assert (await top_up(partner, fresh, 2_000_00)).status_code == 201
    assert (await top_up(partner, used, 2_000_00)).status_code == 201

    back = await refund(partner, fresh, 2_000_00, "cooling_off")
    assert back.status_code == 201, back.text
    assert (back.json()["kind"], back.json()["balance"], back.json()["reason"]) == (
        "refund",
        0,
        "cooling_off",
    )
    assert await account_balance(app, sessions, partner.partner_id, alice) == 20_000_00

    assert (await consume(partner, used, amount=100_00)).status_code == 201
    refused = await refund(partner, used, 1_900_00, "cooling_off")
    assert (refused.status_code, refused.json()["code"]) == (422, "cooling_off_not_applicable")
    # a new top-up after the consumption opens a new cooling-off, for that top-up only
    assert (await top_up(partner, used, 500_00)).status_code == 201
    more = await refund(partner, used, 500_01, "cooling_off")
    assert (more.status_code, more.json()["code"]) == (422, "refund_exceeds_cooling_off")
    assert (await refund(partner, used, 500_00, "cooling_off")).status_code == 201
    over = await refund(partner, used, 1_900_01, "closure")
    assert (over.status_code, over.json()["code"]) == (422, "refund_exceeds_balance")
    closure = await refund(partner, used, 1_900_00, "closure")
    assert closure.status_code == 201 and closure.json()["balance"] == 0
    assert await account_balance(app, sessions, partner.partner_id, bob) == 19_900_00

    assert await ledger_of(sessions, partner.partner_id) == {"escrow": 0, "payable": 100_00}
    balances = await assert_ledger_balanced(sessions)
    assert balances["customer_funds"] == 100_00
    await assert_escrow_agrees_with_ledger(partner, sessions)
    async with sessions() as s:
        kinds = (
            await s.scalars(sa.select(Transaction.kind).order_by(Transaction.occurred_at))
        ).all()
    assert kinds == [
        "top_up",
        "top_up",
        "escrow_refund",
        "release",
        "top_up",
        "escrow_refund",
        "escrow_refund",
    ]


async def test_cooling_off_ends_after_seven_days(
    client: Any, app: Litestar, staff: StaffFactory, sessions: Any
) -> None:
    partner = await merchant(client, staff, "retail", "scale")
    [holder] = await holders(partner, app, client, staff, 1, seed=711)
    card_id = await card(partner, holder, product={"type": "lesson_package", "lessons": 10})
    assert (await top_up(partner, card_id, 1_000_00)).status_code == 201
    await _age_top_ups(sessions, card_id, 8)
    late = await refund(partner, card_id, 1_000_00, "cooling_off")
    assert (late.status_code, late.json()["code"]) == (422, "cooling_off_not_applicable")
    partial = await refund(partner, card_id, 250_00, "other")
    assert partial.status_code == 201
    # 750 left of 1,000 for 10 lessons: 7.5 lessons, rounded up so the money keeps a lesson
    assert (partial.json()["balance"], partial.json()["lessons_remaining"]) == (750_00, 8)
    await assert_escrow_agrees_with_ledger(partner, sessions)
    await assert_ledger_balanced(sessions)
