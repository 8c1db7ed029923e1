"""Every way a fueling, a mandate or a refund is refused, through the API."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from litestar import Litestar
from sqlmodel import col, select

from gateway.core_banking.models import SandboxAccount
from gateway.scenarios.models import Transaction
from tests.conftest import StaffFactory
from tests.scenarios.fuel.support import (
    BASE,
    fuel_partner,
    fueling,
    mandate,
    move_to_yesterday,
    open_drivers,
    station,
)
from tests.scenarios.support import assert_ledger_balanced, fund

PLATE = "苏E6G7H8"


async def _code(resp: Any) -> tuple[int, str]:
    return resp.status_code, resp.json().get("code")


async def test_fuel_refusals_each_with_its_code(
    client: Any, app: Litestar, staff: StaffFactory, sessions: Any
) -> None:
    partner = await fuel_partner(client, staff)
    station_id = await station(partner, pumps=4)
    [driver, broke] = await open_drivers(partner, app, [PLATE, "苏E00001"], 700, station_id)
    await mandate(partner, driver, PLATE, per_txn_limit=400_00, daily_limit=600_00)
    await mandate(partner, broke, "苏E00001")
    await fund(client, staff, driver, 2_000_00)
    post = f"{BASE}/transactions"

    wrong = fueling(station_id, PLATE, 1_500, unit_price=777, amount=1_165)  # 1165.5 → 1166
    assert await _code(await partner.call("POST", post, wrong)) == (422, "amount_mismatch")
    right = fueling(station_id, PLATE, 1_500, unit_price=777, amount=1_166)
    assert (await partner.call("POST", post, right)).status_code == 201

    bad_plate = await partner.call("POST", post, fueling(station_id, "苏E6G7H", 1_000))
    assert await _code(bad_plate) == (422, "plate_invalid")
    assert bad_plate.json()["errors"][0]["field"] == "plate_no"
    unbound = fueling(station_id, "苏E6G7H9", 1_000)
    assert await _code(await partner.call("POST", post, unbound)) == (422, "mandate_missing")
    no_pump = fueling(station_id, PLATE, 1_000, pump_no=5)
    assert await _code(await partner.call("POST", post, no_pump)) == (422, "pump_unknown")
    grade = fueling(station_id, PLATE, 1_000, fuel_grade="93")
    assert await _code(await partner.call("POST", post, grade)) == (422, "validation_error")
    unknown_station = fueling("stn_nope", PLATE, 1_000)
    assert (await partner.call("POST", post, unknown_station)).status_code == 404

    # Per transaction: ¥400 at most; 53.334 L × ¥7.50 = ¥400.01.
    over_txn = fueling(station_id, PLATE, 53_334)
    assert over_txn["amount"] == 400_01
    resp = await partner.call("POST", post, over_txn)
    assert await _code(resp) == (422, "limit_exceeded")
    assert "transaction" in resp.json()["detail"]
    # Per day: ¥600 net; ¥11.66 is used, so ¥400 passes and another ¥188.35 does not.
    first = await partner.call("POST", post, fueling(station_id, PLATE, 53_333, external_ref="F1"))
    assert (first.status_code, first.json()["amount"]) == (201, 400_00)
    over_day = fueling(station_id, PLATE, 25_113)
    assert over_day["amount"] == 188_35
    resp = await partner.call("POST", post, over_day)
    assert await _code(resp) == (422, "limit_exceeded")
    assert "day" in resp.json()["detail"]
    fits = fueling(station_id, PLATE, 25_112)
    assert fits["amount"] == 188_34
    # A refund gives the day's headroom back: the limit counts what was paid net of refunds.
    back = await partner.call(
        "POST", f"{BASE}/transactions/{first.json()['id']}/refunds", {"amount": 100_00}
    )
    assert back.status_code == 201, back.text
    assert (await partner.call("POST", post, over_day)).status_code == 201
    assert await _code(await partner.call("POST", post, fits)) == (422, "limit_exceeded")

    dup = await partner.call("POST", post, fueling(station_id, PLATE, 1_000, external_ref="F1"))
    assert await _code(dup) == (409, "external_ref_conflict")
    poor = await partner.call("POST", post, fueling(station_id, "苏E00001", 10_000))
    assert await _code(poor) == (422, "insufficient_funds")

    # Refunds: never more than paid; only on the business day of the fueling.
    over = await partner.call(
        "POST", f"{BASE}/transactions/{first.json()['id']}/refunds", {"amount": 300_01}
    )
    assert await _code(over) == (422, "refund_exceeds_paid")
    zero = await partner.call(
        "POST", f"{BASE}/transactions/{first.json()['id']}/refunds", {"amount": 0}
    )
    assert await _code(zero) == (422, "validation_error")
    await move_to_yesterday(sessions, [first.json()["id"]])
    late = await partner.call(
        "POST", f"{BASE}/transactions/{first.json()['id']}/refunds", {"amount": 1_00}
    )
    assert await _code(late) == (422, "refund_window_closed")

    await assert_ledger_balanced(sessions)
    async with sessions() as s:
        fuel_txns = await s.scalar(
            select(sa.func.count())
            .select_from(Transaction)
            .where(col(Transaction.scenario) == "fuel", col(Transaction.kind) == "payment")
        )
    assert fuel_txns == 3


async def test_daily_limit_starts_again_after_shanghai_midnight(
    client: Any, app: Litestar, staff: StaffFactory, sessions: Any
) -> None:
    partner = await fuel_partner(client, staff)
    station_id = await station(partner)
    [driver] = await open_drivers(partner, app, [PLATE], 701, station_id)
    await mandate(partner, driver, PLATE, per_txn_limit=300_00, daily_limit=300_00)
    await fund(client, staff, driver, 2_000_00)
    post = f"{BASE}/transactions"
    full = await partner.call("POST", post, fueling(station_id, PLATE, 40_000))
    assert full.status_code == 201
    assert await _code(await partner.call("POST", post, fueling(station_id, PLATE, 134))) == (
        422,
        "limit_exceeded",
    )
    await move_to_yesterday(sessions, [full.json()["id"]])
    again = await partner.call("POST", post, fueling(station_id, PLATE, 40_000))
    assert again.status_code == 201, again.text
    moved = await partner.call("GET", f"{BASE}/transactions/{full.json()['id']}")
    assert again.json()["business_date"] > moved.json()["business_date"]


async def test_class_ii_daily_limit_is_the_cores(
    client: Any, app: Litestar, staff: StaffFactory, sessions: Any
) -> None:
    partner = await fuel_partner(client, staff)
    station_id = await station(partner)
    [driver] = await open_drivers(partner, app, [PLATE], 702, station_id)
    await mandate(partner, driver, PLATE, per_txn_limit=2_000_000, daily_limit=2_000_000)
    await fund(client, staff, driver, 20_000_00)
    # ¥10,000.01 at ¥10.00 a litre: over the Class II account's ¥10,000 a day.
    big = fueling(station_id, PLATE, 1_000_001, unit_price=1_000, amount=1_000_001)
    resp = await partner.call("POST", f"{BASE}/transactions", big)
    assert await _code(resp) == (422, "limit_exceeded")
    async with sessions() as s:
        balance = await s.scalar(
            select(SandboxAccount.balance).where(col(SandboxAccount.kind) == "personal_class_ii")
        )
    assert balance == 20_000_00
    listed = (await partner.call("GET", f"{BASE}/transactions")).json()
    assert listed["data"] == []


async def test_mandate_rules(client: Any, app: Litestar, staff: StaffFactory) -> None:
    partner = await fuel_partner(client, staff)
    [a, b] = await open_drivers(partner, app, [PLATE, "浙A99999"], 703)
    post = f"{BASE}/mandates"
    bad = await partner.call("POST", post, {"customer_id": a, "plate_no": "浙A9999"})
    assert await _code(bad) == (422, "plate_invalid")
    inverted = await partner.call(
        "POST",
        post,
        {"customer_id": a, "plate_no": PLATE, "per_txn_limit": 300_00, "daily_limit": 200_00},
    )
    assert await _code(inverted) == (422, "validation_error")
    assert inverted.json()["errors"][0]["field"] == "per_txn_limit"
    assert await _code(await partner.call("POST", post, {"customer_id": a, "plate_no": PLATE})) == (
        201,
        None,
    )
    # One active mandate per plate, whoever asks for it.
    taken = await partner.call("POST", post, {"customer_id": b, "plate_no": PLATE.lower()})
    assert await _code(taken) == (409, "mandate_exists")
    stranger = await partner.call("POST", post, {"customer_id": "cus_nope", "plate_no": "浙A99999"})
    assert stranger.status_code == 404
    ref = {"customer_id": b, "plate_no": "浙A99999", "external_ref": "M-1"}
    assert (await partner.call("POST", post, ref)).status_code == 201
    again = {"customer_id": a, "plate_no": "浙A88888", "external_ref": "M-1"}
    assert await _code(await partner.call("POST", post, again)) == (409, "external_ref_conflict")
