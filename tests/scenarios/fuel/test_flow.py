"""Contactless fuel through the API (DESIGN §9 fuel, §7 per-litre subsidies): station, drivers,
mandates, fuelings with a subsidy whose budget runs out, refunds, and the ledger."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import sqlalchemy as sa
from litestar import Litestar
from sqlmodel import col, select

from gateway.core_banking.models import SandboxMovement
from gateway.notifications.models import Event
from gateway.scenarios.fuel.models import Driver
from tests.conftest import StaffFactory
from tests.scenarios.fuel.support import (
    BASE,
    PRICE,
    fuel_partner,
    fueling,
    mandate,
    open_drivers,
    per_litre_campaign,
    station,
)
from tests.scenarios.support import assert_ledger_balanced, fund

PLATES = ["京A12345", "沪AD12345", "粤B12345D"]


async def test_station_driver_mandate_subsidised_fuel_refund_and_ledger(
    client: Any, app: Litestar, staff: StaffFactory, sessions: Any
) -> None:
    partner = await fuel_partner(client, staff)
    station_id = await station(partner, ref="S-001")
    listed = (await partner.call("GET", f"{BASE}/stations")).json()
    assert [(s["id"], s["external_ref"], s["pumps"]) for s in listed["data"]] == [
        (station_id, "S-001", 8)
    ]
    assert (await partner.call("GET", f"{BASE}/stations/{station_id}")).json()["name"] == (
        "Lakeside Station"
    )

    # Drivers are opened at the station with their plates; the plate is recorded, not bound.
    drivers = await open_drivers(partner, app, [p.lower() for p in PLATES], 600, station_id)
    async with sessions() as s:
        recorded = (await s.scalars(select(Driver).order_by(col(Driver.plate_no)))).all()
    assert sorted((d.customer_id, d.plate_no, d.station_id) for d in recorded) == sorted(
        (c, p, station_id) for c, p in zip(drivers, PLATES, strict=True)
    )
    missing = await partner.call("POST", f"{BASE}/transactions", fueling(station_id, PLATES[0], 1))
    assert (missing.status_code, missing.json()["code"]) == (422, "mandate_missing")

    created = await partner.call(
        "POST", f"{BASE}/mandates", {"customer_id": drivers[0], "plate_no": " 京a12345 "}
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert {k: v for k, v in body.items() if k not in ("id", "created_at")} == {
        "external_ref": None,
        "customer_id": drivers[0],
        "plate_no": "京A12345",
        "new_energy": False,
        "status": "active",
        "tank_capacity_l": 60,
        "per_txn_limit": 100_000,
        "daily_limit": 200_000,
        "revoked_at": None,
        "currency": "CNY",
    }
    second = await mandate(partner, drivers[1], PLATES[1], tank_capacity_l=45)
    await mandate(partner, drivers[2], PLATES[2], per_txn_limit=50_000, daily_limit=80_000)
    mandates = (await partner.call("GET", f"{BASE}/mandates?plate_no={quote(PLATES[1])}")).json()[
        "data"
    ]
    assert [(m["id"], m["new_energy"], m["tank_capacity_l"]) for m in mandates] == [
        (second, True, 45)
    ]
    assert len((await partner.call("GET", f"{BASE}/mandates?status=active")).json()["data"]) == 3

    # ¥0.50 a litre, at most ¥30 a fueling, from a ¥30 budget: 40 L gets ¥20, then ¥10, then 0.
    campaign_id = await per_litre_campaign(client, staff, partner.partner_id, budget=30_00)
    for driver in drivers:
        await fund(client, staff, driver, 1_000_00)
    paid = []
    for plate in PLATES:
        resp = await partner.call(
            "POST",
            f"{BASE}/transactions",
            fueling(
                station_id,
                plate,
                40_000,
                context={"device_id": "pos-7", "ip": "10.0.0.8", "user_agent": "pump/1.0"},
            ),
        )
        assert resp.status_code == 201, resp.text
        paid.append(resp.json())
    assert [(p["amount"], p["subsidy"], p["charged"], p["campaign_id"]) for p in paid] == [
        (300_00, 20_00, 280_00, campaign_id),
        (300_00, 10_00, 290_00, campaign_id),
        (300_00, 0, 300_00, None),
    ]
    first = paid[0]
    assert {k: first[k] for k in ("station_id", "plate_no", "pump_no", "fuel_grade")} == {
        "station_id": station_id,
        "plate_no": "京A12345",
        "pump_no": 3,
        "fuel_grade": "92",
    }
    assert (first["litres_ml"], first["unit_price"], first["refunded"]) == (40_000, PRICE, 0)
    assert (first["customer_id"], first["status"], first["currency"]) == (
        drivers[0],
        "succeeded",
        "CNY",
    )
    manager = await staff.token("cm-fuel-reader", "channel_manager")
    campaign = (await client.get(f"/admin/v1/campaigns/{campaign_id}", headers=manager)).json()
    assert (campaign["budget"], campaign["spent"]) == (30_00, 30_00)

    # Half the first fueling back: the campaign gets half its ¥20, the driver ¥140.
    refunded = await partner.call(
        "POST", f"{BASE}/transactions/{first['id']}/refunds", {"amount": 150_00}
    )
    assert refunded.status_code == 201, refunded.text
    assert {k: refunded.json()[k] for k in ("transaction_id", "amount", "subsidy_returned")} == {
        "transaction_id": first["id"],
        "amount": 150_00,
        "subsidy_returned": 10_00,
    }
    assert refunded.json()["credited"] == 140_00
    again = await partner.call("GET", f"{BASE}/transactions/{first['id']}")
    assert again.json()["refunded"] == 150_00
    over = await partner.call(
        "POST", f"{BASE}/transactions/{first['id']}/refunds", {"amount": 150_01}
    )
    assert (over.status_code, over.json()["code"]) == (422, "refund_exceeds_paid")
    campaign = (await client.get(f"/admin/v1/campaigns/{campaign_id}", headers=manager)).json()
    assert campaign["spent"] == 20_00

    listed_txns = (await partner.call("GET", f"{BASE}/transactions?station_id={station_id}")).json()
    assert [t["id"] for t in listed_txns["data"]] == [p["id"] for p in paid]
    by_plate = (
        await partner.call("GET", f"{BASE}/transactions?plate_no={quote(PLATES[2])}")
    ).json()
    assert [t["id"] for t in by_plate["data"]] == [paid[2]["id"]]
    today = first["business_date"]
    on_day = (await partner.call("GET", f"{BASE}/transactions?business_date={today}")).json()
    assert len(on_day["data"]) == 3

    balances = await assert_ledger_balanced(sessions)
    assert balances[f"partner_payable:{partner.partner_id}:fuel"] == -750_00
    assert balances[f"subsidy_budget:{campaign_id}"] == 20_00
    assert balances["customer_funds"] == 280_00 + 290_00 + 300_00 - 140_00
    async with sessions() as s:
        events = (
            await s.scalars(select(Event).where(col(Event.partner_id) == partner.partner_id))
        ).all()
        debits = await s.scalar(
            select(sa.func.sum(col(SandboxMovement.amount))).where(
                col(SandboxMovement.reference).like("fuel:%"),
                col(SandboxMovement.status) == "succeeded",
            )
        )
    succeeded = [e.data for e in events if e.type == "payment.succeeded"]
    assert sorted((e["scenario"], e["amount"], e["subsidy"]) for e in succeeded) == [
        ("fuel", 300_00, 0),
        ("fuel", 300_00, 10_00),
        ("fuel", 300_00, 20_00),
    ]
    assert [e.data["subsidy_returned"] for e in events if e.type == "payment.refunded"] == [10_00]
    assert debits is not None and abs(debits) == 870_00


async def test_a_bad_plate_never_refuses_an_opening(
    client: Any, app: Litestar, staff: StaffFactory, sessions: Any
) -> None:
    partner = await fuel_partner(client, staff)
    drivers = await open_drivers(partner, app, ["not a plate", "闽D1234F"], 601)
    async with sessions() as s:
        recorded = (await s.execute(select(Driver.customer_id, Driver.plate_no))).all()
    assert [tuple(r) for r in recorded] == [(drivers[1], "闽D1234F")]
