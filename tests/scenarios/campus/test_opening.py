"""Students and staff opened through account batches get campus cards (DESIGN §9 campus)."""

from __future__ import annotations

import random
from datetime import date, timedelta
from typing import Any

from litestar import Litestar

from gateway.customers.rules import today
from gateway.scenarios.base import adapter_for
from tests.conftest import StaffFactory
from tests.scenarios.campus.support import (
    BASE,
    cards_by_student_no,
    member,
    merchant,
    open_batch,
    university,
)


def _seventeen() -> date:
    day = today()
    return day.replace(year=day.year - 17) - timedelta(days=1)


async def test_batch_opens_a_card_per_student_and_staff_member_and_refuses_bad_rows(
    client: Any, app: Litestar, staff: StaffFactory
) -> None:
    partner = await university(client, staff)
    rng = random.Random(800)
    rows = [
        member(rng, 1, "S001", "student", born=_seventeen()),
        member(rng, 2, 20260002, "Student"),  # a number and a capitalised role are accepted
        member(rng, 3, "T001", "staff"),
        member(rng, 4, "S001", "student"),  # another person with S001
        member(rng, 5, "S005", None),
        member(rng, 6, "S006", "alumnus"),
        member(rng, 7, None, "student"),
        member(rng, 8, "no spaces allowed", "staff"),
    ]
    batch, items = await open_batch(partner, app, rows)
    assert (batch["status"], batch["opened"], batch["rejected"]) == (
        "completed_with_errors",
        3,
        5,
    )
    outcomes = [(i["status"], i["error"] and i["error"]["code"]) for i in items]
    assert outcomes == [
        ("opened", None),
        ("opened", None),
        ("opened", None),
        ("rejected", "student_no_duplicate"),
        ("rejected", "role_invalid"),
        ("rejected", "role_invalid"),
        ("rejected", "student_no_invalid"),
        ("rejected", "student_no_invalid"),
    ]

    cards = await cards_by_student_no(partner)
    assert set(cards) == {"S001", "20260002", "T001"}
    s001 = cards["S001"]
    assert s001 == {
        "id": s001["id"],
        "customer_id": items[0]["customer_id"],
        "student_no": "S001",
        "role": "student",
        "status": "active",
        "balance": 0,
        "minor": True,
        "created_at": s001["created_at"],
        "closed_at": None,
        "currency": "CNY",
    }
    assert cards["20260002"]["role"] == "student" and not cards["20260002"]["minor"]
    assert cards["T001"]["role"] == "staff"

    def ids(resp: Any) -> list[str]:
        assert resp.status_code == 200, resp.text
        return [c["student_no"] for c in resp.json()["data"]]

    assert ids(await partner.call("GET", f"{BASE}/cards?role=staff")) == ["T001"]
    assert ids(await partner.call("GET", f"{BASE}/cards?role=student&status=active")) == [
        "S001",
        "20260002",
    ]
    assert ids(await partner.call("GET", f"{BASE}/cards?student_no=S001")) == ["S001"]
    assert ids(await partner.call("GET", f"{BASE}/cards?status=frozen")) == []
    page = (await partner.call("GET", f"{BASE}/cards?limit=2")).json()
    rest = (await partner.call("GET", f"{BASE}/cards?cursor={page['next_cursor']}")).json()
    assert len(page["data"]) == 2 and [c["student_no"] for c in rest["data"]] == ["T001"]
    got = await partner.call("GET", f"{BASE}/cards/{s001['id']}")
    assert got.json() == s001

    # A later batch: the same person with the same number is recognised (no second card); a
    # different person cannot take a number that is held.
    again, again_items = await open_batch(
        partner,
        app,
        [
            rows[2] | {"external_ref": "member-3"},
            member(random.Random(801), 9, "T001", "staff"),
        ],
    )
    assert [(i["status"], i["error"] and i["error"]["code"]) for i in again_items] == [
        ("existing", None),
        ("rejected", "student_no_duplicate"),
    ]
    assert again["status"] == "completed_with_errors"
    assert len(await cards_by_student_no(partner)) == 3


async def test_single_opening_and_sub_channel_and_isolation(
    client: Any, app: Litestar, staff: StaffFactory
) -> None:
    partner = await university(client, staff)
    other = await university(client, staff)
    rng = random.Random(810)
    bad = await partner.call(
        "POST",
        "/v1/customers",
        member(rng, 1, "S100", "visitor") | {"scenario": "campus"},
    )
    assert (bad.status_code, bad.json()["code"]) == (422, "role_invalid")
    school = await merchant(partner, "driving-school", "service")
    one = await partner.call(
        "POST",
        "/v1/customers",
        member(rng, 2, "S101", "student") | {"scenario": "campus", "sub_channel": school},
    )
    assert one.status_code == 201, one.text
    [card] = (await partner.call("GET", f"{BASE}/cards")).json()["data"]
    assert (card["customer_id"], card["student_no"]) == (one.json()["id"], "S101")

    unknown = await partner.call(
        "POST",
        "/v1/account-batches",
        {"scenario": "campus", "sub_channel": "cmr_nope", "items": [member(rng, 3, "S1", "staff")]},
    )
    assert (unknown.status_code, unknown.json()["code"]) == (422, "sub_channel_unknown")

    # Another university sees none of it, and may use the same student number for its own.
    assert (await other.call("GET", f"{BASE}/cards/{card['id']}")).status_code == 404
    assert (await other.call("GET", f"{BASE}/cards")).json()["data"] == []
    assert (await other.call("GET", f"{BASE}/merchants/{school}")).status_code == 404
    theirs, items = await open_batch(other, app, [member(rng, 4, "S101", "student")])
    assert theirs["status"] == "completed" and items[0]["status"] == "opened"
    for path in (f"{BASE}/cards/{card['id']}/freeze", f"{BASE}/cards/{card['id']}/withdrawal"):
        assert (await other.call("POST", path)).status_code == 404
    top_up = await other.call("POST", f"{BASE}/cards/{card['id']}/top-ups", {"amount": 100})
    assert top_up.status_code == 404


async def test_merchants(client: Any, staff: StaffFactory) -> None:
    partner = await university(client, staff)
    canteen = await merchant(partner, "canteen-1", "canteen")
    shop = await merchant(partner, "shop-1", "shop")
    dup = await partner.call(
        "POST", f"{BASE}/merchants", {"external_ref": "shop-1", "name": "Again", "type": "shop"}
    )
    assert (dup.status_code, dup.json()["code"]) == (409, "external_ref_conflict")
    bad = await partner.call(
        "POST", f"{BASE}/merchants", {"external_ref": "x", "name": "Bank", "type": "atm"}
    )
    assert (bad.status_code, bad.json()["code"]) == (422, "validation_error")
    listed = (await partner.call("GET", f"{BASE}/merchants")).json()["data"]
    assert [m["id"] for m in listed] == [canteen, shop]
    assert listed[0] | {"created_at": None} == {
        "id": canteen,
        "external_ref": "canteen-1",
        "name": "Merchant canteen-1",
        "type": "canteen",
        "created_at": None,
    }
    shops = (await partner.call("GET", f"{BASE}/merchants?type=shop")).json()["data"]
    assert [m["id"] for m in shops] == [shop]


def test_risk_features_name_merchant_terminal_card_and_round_amounts() -> None:
    adapter = adapter_for("campus")
    assert adapter is not None
    event = {"merchant_id": "cmr_1", "terminal_id": "POS-1", "card_id": "ccd_1", "amount": 300_00}
    assert adapter.risk_features(event) == {
        "campus_merchant_id": "cmr_1",
        "campus_terminal_id": "POS-1",
        "campus_card_id": "ccd_1",
        "campus_round_amount": True,
    }
    assert not adapter.risk_features(event | {"amount": 300_01})["campus_round_amount"]
    assert not adapter.risk_features(event | {"amount": 50_00})["campus_round_amount"]
    assert adapter.risk_features({}) == {
        "campus_merchant_id": None,
        "campus_terminal_id": None,
        "campus_card_id": None,
        "campus_round_amount": False,
    }
