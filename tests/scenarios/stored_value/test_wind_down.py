"""Wind-down (DESIGN §9): releases frozen, every card refunded from escrow, pro rata if short."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from litestar import Litestar

from gateway.audit.models import AuditRecord
from gateway.core_banking.models import SandboxAccount
from gateway.scenarios.models import Transaction
from gateway.scenarios.payments import payer_for
from gateway.settlement.ledger.accounts import AccountType, account
from gateway.settlement.ledger.service import post_journal
from tests.conftest import StaffFactory
from tests.partners.support import onboard
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
    refund,
    top_up,
)
from tests.scenarios.support import assert_ledger_balanced


def _path(partner_id: str) -> str:
    return f"/admin/v1/partners/{partner_id}/wind-down"


async def test_wind_down_with_enough_escrow_refunds_every_card_in_full(
    client: Any, app: Litestar, staff: StaffFactory, sessions: Any
) -> None:
    partner = await merchant(client, staff, "fitness", "scale")
    alice, bob = await holders(partner, app, client, staff, 2, seed=720)
    a = await card(partner, alice)
    b = await card(partner, bob, product={"type": "lesson_package", "lessons": 10})
    await top_up(partner, a, 3_000_00)
    await top_up(partner, b, 1_000_00)
    await consume(partner, a, amount=1_000_00)
    maker = await staff.token("wd-maker", "ops_maker")
    assert (await client.post(_path(partner.partner_id), headers=maker)).status_code == 403

    checker = await staff.token("wd-checker", "ops_checker")
    done = await client.post(_path(partner.partner_id), headers=checker)
    assert done.status_code == 200, done.text
    report = done.json()
    assert {k: v for k, v in report.items() if k != "wound_down_at"} == {
        "partner_id": partner.partner_id,
        "status": "wound_down",
        "wound_down_by": report["wound_down_by"],
        "escrow_before": 3_000_00,
        "outstanding_before": 3_000_00,
        "refunded": 3_000_00,
        "shortfall": 0,
        "pro_rata": False,
        "cards_refunded": 2,
        "currency": "CNY",
    }
    assert "wd-checker" in report["wound_down_by"]
    assert await account_balance(app, sessions, partner.partner_id, alice) == 19_000_00
    assert await account_balance(app, sessions, partner.partner_id, bob) == 20_000_00
    cards = (await partner.call("GET", f"{BASE}/cards")).json()["data"]
    assert {(c["balance"], c["status"], c["lessons_remaining"]) for c in cards} == {
        (0, "closed", 0)
    }
    frozen = await consume(partner, a, amount=1)
    assert (frozen.status_code, frozen.json()["code"]) == (409, "merchant_wound_down")
    for blocked in (await top_up(partner, a, 1_00), await refund(partner, a, 1, "other")):
        assert blocked.json()["code"] == "merchant_wound_down"
    view = await escrow(partner)
    assert (view["frozen"], view["escrow_balance"], view["outstanding_balance"]) == (True, 0, 0)

    again = await client.post(_path(partner.partner_id), headers=checker)
    assert again.status_code == 200 and again.json() == report
    auditor = await staff.token("wd-auditor", "auditor")
    read = await client.get(_path(partner.partner_id), headers=auditor)
    assert read.json() == report
    async with sessions() as s:
        refunds = await s.scalar(
            sa.select(sa.func.count())
            .select_from(Transaction)
            .where(Transaction.kind == "wind_down_refund")
        )
        audits = (
            await s.scalars(
                sa.select(AuditRecord).where(AuditRecord.action == "partner.wound_down")
            )
        ).all()
    assert refunds == 2
    assert len(audits) == 1 and audits[0].subject_id == partner.partner_id
    assert audits[0].after == {"refunded": 3_000_00, "shortfall": 0, "cards": 2, "pro_rata": False}
    assert await ledger_of(sessions, partner.partner_id) == {"escrow": 0, "payable": 1_000_00}
    await assert_ledger_balanced(sessions)


async def test_wind_down_with_a_short_escrow_refunds_pro_rata_half_up(
    client: Any, app: Litestar, staff: StaffFactory, sessions: Any
) -> None:
    partner = await merchant(client, staff, "beauty", "brand")
    owners = await holders(partner, app, client, staff, 3, seed=721)
    cards = [await card(partner, owner) for owner in owners]
    for card_id, amount in zip(cards, (100_00, 200_00, 33_33), strict=True):
        assert (await top_up(partner, card_id, amount)).status_code == 201
    # money left the escrow outside the rules (the case a wind-down exists for)
    async with sessions() as s:
        await post_journal(
            s,
            reference="test:misappropriation",
            kind="stored_value.release",
            lines=[
                (account(AccountType.MERCHANT_ESCROW, partner.partner_id), 100_00),
                (account(AccountType.PARTNER_PAYABLE, partner.partner_id, "stored_value"), -100_00),
            ],
        )
        await s.commit()
    assert (await escrow(partner))["escrow_balance"] == 233_33

    checker = await staff.token("wd-short", "ops_checker")
    report = (await client.post(_path(partner.partner_id), headers=checker)).json()
    assert (
        report["escrow_before"],
        report["outstanding_before"],
        report["refunded"],
        report["shortfall"],
        report["pro_rata"],
    ) == (233_33, 333_33, 233_33, 100_00, True)
    # 233.33 / 333.33 of each balance, half-up on the running total: 70.00, 140.00, 23.33
    paid = [
        await account_balance(app, sessions, partner.partner_id, owner) - 20_000_00
        for owner in owners
    ]
    spent = [100_00, 200_00, 33_33]
    assert [p + s for p, s in zip(paid, spent, strict=True)] == [70_00, 140_00, 23_33]
    assert await ledger_of(sessions, partner.partner_id) == {"escrow": 0, "payable": 100_00}
    await assert_escrow_agrees_with_ledger(partner, sessions)
    await assert_ledger_balanced(sessions)


async def test_wind_down_of_unknown_or_other_partners(client: Any, staff: StaffFactory) -> None:
    checker = await staff.token("wd-other", "ops_checker")
    missing = await client.post(_path("ptn_00000000000000000000000000"), headers=checker)
    assert missing.status_code == 404
    community = await onboard(client, staff, webhook_url=None)
    wrong = await client.post(_path(community.partner_id), headers=checker)
    assert (wrong.status_code, wrong.json()["code"]) == (422, "scenario_not_enabled")
    never = await client.get(_path(community.partner_id), headers=checker)
    assert never.status_code == 404


async def test_a_wind_down_that_fails_half_way_moves_nothing_and_can_be_retried(
    client: Any, app: Litestar, staff: StaffFactory, sessions: Any
) -> None:
    partner = await merchant(client, staff, "retail", "group")
    owners = await holders(partner, app, client, staff, 2, seed=722)
    for owner in owners:
        await top_up(partner, await card(partner, owner), 500_00)
    # the second holder's account is gone from the core: its credit is refused
    async with sessions() as s:
        second = await payer_for(s, app.state.services["vault"], partner.partner_id, owners[1])
        account = await s.get(SandboxAccount, second.account_no)
        assert account is not None
        saved = account.model_dump()
        await s.delete(account)
        await s.commit()
    checker = await staff.token("wd-retry", "ops_checker")
    failed = await client.post(_path(partner.partner_id), headers=checker)
    assert (failed.status_code, failed.json()["code"]) == (422, "account_not_found")
    # the first holder's credit went back with everything else
    assert await account_balance(app, sessions, partner.partner_id, owners[0]) == 19_500_00
    assert (await escrow(partner))["frozen"] is False

    async with sessions() as s:
        s.add(SandboxAccount(**saved))
        await s.commit()
    done = await client.post(_path(partner.partner_id), headers=checker)
    assert done.status_code == 200 and done.json()["refunded"] == 1_000_00
    for owner in owners:
        assert await account_balance(app, sessions, partner.partner_id, owner) == 20_000_00
    await assert_ledger_balanced(sessions)
