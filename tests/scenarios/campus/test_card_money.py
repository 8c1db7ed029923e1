"""Card money through the API: top-ups up to the cap, merchant payments, lost cards, graduation
withdrawal, tuition; the ledger balances after every step (DESIGN §9 campus, §10)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from litestar import Litestar

from gateway.core_banking.models import SandboxAccount
from gateway.scenarios.models import Transaction
from tests.conftest import StaffFactory
from tests.partners.support import PartnerHandle
from tests.scenarios.campus.support import BASE, freshmen, merchant, university
from tests.scenarios.support import assert_ledger_balanced, fund


async def _balance(sessions: Any, partner: PartnerHandle) -> tuple[int, int]:
    """(card float, university payable) from a balanced ledger."""
    balances = await assert_ledger_balanced(sessions)
    pid = partner.partner_id
    return balances.get(f"card_float:{pid}", 0), balances.get(f"partner_payable:{pid}:campus", 0)


async def _bank_balance(sessions: Any) -> list[int]:
    async with sessions() as s:
        rows = await s.scalars(
            sa.select(SandboxAccount.balance)
            .where(SandboxAccount.kind == "personal_class_ii")
            .order_by(SandboxAccount.account_no)
        )
        return list(rows.all())


async def test_top_up_pay_freeze_unfreeze_and_withdraw_on_graduation(
    client: Any, app: Litestar, staff: StaffFactory, sessions: Any
) -> None:
    partner = await university(client, staff)
    cards = await freshmen(partner, app, seed=820, students=1, staff=0)
    card = cards["S001"]
    canteen = await merchant(partner)
    await fund(client, staff, card["customer_id"], 2_000_00)
    top = f"{BASE}/cards/{card['id']}/top-ups"

    first = await partner.call("POST", top, {"amount": 600_00}, idempotency_key="top-1")
    assert first.status_code == 201, first.text
    assert first.json() | {"id": None} == {
        "id": None,
        "card_id": card["id"],
        "kind": "top_up",
        "amount": 600_00,
        "balance": 600_00,
        "status": "succeeded",
        "merchant_id": None,
        "terminal_id": None,
        "currency": "CNY",
    }
    replay = await partner.call("POST", top, {"amount": 600_00}, idempotency_key="top-1")
    assert replay.json() == first.json() and replay.headers["idempotent-replayed"] == "true"
    assert await _balance(sessions, partner) == (-600_00, 0)

    over = await partner.call("POST", top, {"amount": 400_01})
    assert (over.status_code, over.json()["code"]) == (422, "card_balance_cap")
    full = await partner.call("POST", top, {"amount": 400_00})
    assert full.json()["balance"] == 1_000_00
    assert (await partner.call("POST", top, {"amount": 1})).json()["code"] == "card_balance_cap"
    assert await _balance(sessions, partner) == (-1_000_00, 0)

    payment = {"card_id": card["id"], "merchant_id": canteen, "terminal_id": "POS-7"}
    paid = await partner.call(
        "POST", f"{BASE}/payments", payment | {"amount": 12_50, "external_ref": "pos7-0001"}
    )
    assert paid.status_code == 201, paid.text
    assert {
        k: paid.json()[k] for k in ("kind", "amount", "balance", "merchant_id", "terminal_id")
    } == {
        "kind": "payment",
        "amount": 12_50,
        "balance": 987_50,
        "merchant_id": canteen,
        "terminal_id": "POS-7",
    }
    assert await _balance(sessions, partner) == (-987_50, -12_50)
    repeated = await partner.call(
        "POST", f"{BASE}/payments", payment | {"amount": 1_00, "external_ref": "pos7-0001"}
    )
    assert (repeated.status_code, repeated.json()["code"]) == (409, "external_ref_conflict")
    too_much = await partner.call("POST", f"{BASE}/payments", payment | {"amount": 987_51})
    assert (too_much.status_code, too_much.json()["code"]) == (422, "insufficient_card_balance")
    nowhere = await partner.call(
        "POST", f"{BASE}/payments", payment | {"merchant_id": "cmr_nope", "amount": 1}
    )
    assert nowhere.status_code == 404

    # Lost: frozen cards pay nothing and take no top-ups until found.
    frozen = await partner.call("POST", f"{BASE}/cards/{card['id']}/freeze")
    assert (frozen.status_code, frozen.json()["status"]) == (200, "frozen")
    declined = await partner.call("POST", f"{BASE}/payments", payment | {"amount": 1_00})
    assert (declined.status_code, declined.json()["code"]) == (422, "card_frozen")
    refused = await partner.call("POST", top, {"amount": 1_00})
    assert (refused.status_code, refused.json()["code"]) == (422, "card_frozen")
    twice = await partner.call("POST", f"{BASE}/cards/{card['id']}/freeze")
    assert (twice.status_code, twice.json()["code"]) == (409, "card_already_frozen")
    listed = (await partner.call("GET", f"{BASE}/cards?status=frozen")).json()["data"]
    assert [c["id"] for c in listed] == [card["id"]]
    found = await partner.call("POST", f"{BASE}/cards/{card['id']}/unfreeze")
    assert (found.status_code, found.json()["status"]) == (200, "active")
    again = await partner.call("POST", f"{BASE}/cards/{card['id']}/unfreeze")
    assert (again.status_code, again.json()["code"]) == (409, "card_not_frozen")
    lunch = await partner.call("POST", f"{BASE}/payments", payment | {"amount": 87_50})
    assert lunch.json()["balance"] == 900_00
    assert await _balance(sessions, partner) == (-900_00, -100_00)

    # Graduation: the balance goes back to the bank account and the card closes.
    before = await _bank_balance(sessions)
    out = await partner.call(
        "POST", f"{BASE}/cards/{card['id']}/withdrawal", idempotency_key="grad"
    )
    assert out.status_code == 201, out.text
    assert out.json() | {"id": None} == {
        "id": None,
        "card_id": card["id"],
        "amount": 900_00,
        "card_status": "closed",
        "currency": "CNY",
    }
    replayed = await partner.call(
        "POST", f"{BASE}/cards/{card['id']}/withdrawal", idempotency_key="grad"
    )
    assert replayed.json() == out.json()
    assert await _bank_balance(sessions) == [before[0] + 900_00]
    assert await _balance(sessions, partner) == (0, -100_00)
    closed = (await partner.call("GET", f"{BASE}/cards/{card['id']}")).json()
    assert (closed["status"], closed["balance"]) == ("closed", 0) and closed["closed_at"]
    for path, body in (
        (f"{BASE}/cards/{card['id']}/withdrawal", None),
        (f"{BASE}/cards/{card['id']}/freeze", None),
        (top, {"amount": 1_00}),
        (f"{BASE}/payments", payment | {"amount": 1_00}),
    ):
        resp = await partner.call("POST", path, body)
        assert (resp.status_code, resp.json()["code"]) == (409, "card_closed"), path
    async with sessions() as s:
        kinds = await s.scalars(sa.select(Transaction.kind).order_by(Transaction.id))
        assert list(kinds.all()) == [
            "card_top_up",
            "card_top_up",
            "card_payment",
            "card_payment",
            "card_withdrawal",
        ]


async def test_top_up_needs_money_in_the_bank_and_an_empty_card_closes_without_a_credit(
    client: Any, app: Litestar, staff: StaffFactory, sessions: Any
) -> None:
    partner = await university(client, staff)
    cards = await freshmen(partner, app, seed=821, students=1, staff=1)
    broke = await partner.call(
        "POST", f"{BASE}/cards/{cards['S001']['id']}/top-ups", {"amount": 5_00}
    )
    assert (broke.status_code, broke.json()["code"]) == (422, "insufficient_funds")
    assert (await partner.call("GET", f"{BASE}/cards/{cards['S001']['id']}")).json()["balance"] == 0
    empty = await partner.call("POST", f"{BASE}/cards/{cards['T001']['id']}/withdrawal")
    assert empty.status_code == 201, empty.text
    assert (empty.json()["id"], empty.json()["amount"], empty.json()["card_status"]) == (
        None,
        0,
        "closed",
    )
    assert await _balance(sessions, partner) == (0, 0)


async def test_tuition_bills_in_bulk_and_paid_from_the_students_account(
    client: Any, app: Litestar, staff: StaffFactory, sessions: Any
) -> None:
    partner = await university(client, staff)
    other = await university(client, staff)
    cards = await freshmen(partner, app, seed=830, students=2, staff=1)
    bill = {"term": "2026-2027-1", "amount": 5_000_00, "due_date": "2026-09-01"}
    refused = await partner.call(
        "POST",
        f"{BASE}/tuition-bills",
        {"items": [bill | {"student_no": "T001"}, bill | {"student_no": "S999"}]},
    )
    assert refused.status_code == 422
    assert [(e["field"], e["code"]) for e in refused.json()["errors"]] == [
        ("items[0].student_no", "not_a_student"),
        ("items[1].student_no", "not_found"),
    ]
    issued = await partner.call(
        "POST",
        f"{BASE}/tuition-bills",
        {
            "items": [
                bill | {"student_no": "S001", "external_ref": "fee-1"},
                bill | {"student_no": "S002"},
                bill | {"student_no": "S001", "item": "accommodation", "amount": 1_200_00},
            ]
        },
    )
    assert issued.status_code == 201, issued.text
    bills = issued.json()["data"]
    assert bills[0] | {"id": None} == {
        "id": None,
        "card_id": cards["S001"]["id"],
        "customer_id": cards["S001"]["customer_id"],
        "student_no": "S001",
        "item": "tuition",
        "term": "2026-2027-1",
        "amount": 5_000_00,
        "due_date": "2026-09-01",
        "status": "unpaid",
        "external_ref": "fee-1",
        "transaction_id": None,
        "minor": False,
        "currency": "CNY",
    }
    dup = await partner.call(
        "POST", f"{BASE}/tuition-bills", {"items": [bill | {"student_no": "S002"}]}
    )
    assert (dup.status_code, dup.json()["code"]) == (409, "bill_duplicate")
    assert (
        await other.call("POST", f"{BASE}/tuition-bills/{bills[0]['id']}/pay")
    ).status_code == 404

    await fund(client, staff, cards["S001"]["customer_id"], 8_000_00)
    paid = await partner.call(
        "POST", f"{BASE}/tuition-bills/{bills[0]['id']}/pay", idempotency_key="fee-1"
    )
    assert paid.status_code == 201, paid.text
    assert paid.json()["status"] == "paid" and paid.json()["transaction_id"].startswith("txn_")
    replay = await partner.call(
        "POST", f"{BASE}/tuition-bills/{bills[0]['id']}/pay", idempotency_key="fee-1"
    )
    assert replay.json() == paid.json() and replay.headers["idempotent-replayed"] == "true"
    twice = await partner.call("POST", f"{BASE}/tuition-bills/{bills[0]['id']}/pay")
    assert (twice.status_code, twice.json()["code"]) == (409, "bill_already_paid")
    broke = await partner.call("POST", f"{BASE}/tuition-bills/{bills[1]['id']}/pay")
    assert (broke.status_code, broke.json()["code"]) == (422, "insufficient_funds")
    assert await _balance(sessions, partner) == (0, -5_000_00)

    unpaid = (await partner.call("GET", f"{BASE}/tuition-bills?status=unpaid")).json()["data"]
    assert [b["id"] for b in unpaid] == [bills[1]["id"], bills[2]["id"]]
    mine = (
        await partner.call("GET", f"{BASE}/tuition-bills?student_no=S001&term=2026-2027-1")
    ).json()["data"]
    assert [(b["item"], b["status"]) for b in mine] == [
        ("tuition", "paid"),
        ("accommodation", "unpaid"),
    ]
    assert (await other.call("GET", f"{BASE}/tuition-bills")).json()["data"] == []
