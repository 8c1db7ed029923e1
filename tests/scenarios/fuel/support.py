"""Helpers for fuel tests: a station, drivers opened with their plates, mandates, fuelings."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from litestar import Litestar

from gateway.scenarios.fuel.models import FuelTransaction
from gateway.scenarios.models import Transaction
from tests.conftest import StaffFactory, run_jobs
from tests.customers.support import people
from tests.partners.support import PartnerHandle, onboard

BASE = "/v1/scenarios/fuel"
PRICE = 750  # fen per litre (¥7.50)


async def fuel_partner(client: Any, staff: StaffFactory) -> PartnerHandle:
    return await onboard(client, staff, webhook_url=None, scenarios=["fuel"])


async def station(partner: PartnerHandle, pumps: int = 8, ref: str | None = None) -> str:
    body: dict[str, Any] = {"name": "Lakeside Station", "address": "1 Ring Rd", "pumps": pumps}
    if ref is not None:
        body["external_ref"] = ref
    resp = await partner.call("POST", f"{BASE}/stations", body)
    assert resp.status_code == 201, resp.text
    return str(resp.json()["id"])


async def open_drivers(
    partner: PartnerHandle,
    app: Litestar,
    plates: list[str],
    seed: int,
    station_id: str | None = None,
) -> list[str]:
    """Open one driver per plate through a fuel batch (``attributes.plate_no``)."""
    items = people(seed, len(plates))
    for item, plate in zip(items, plates, strict=True):
        item["attributes"] = {"plate_no": plate}
    body: dict[str, Any] = {"scenario": "fuel", "items": items}
    if station_id is not None:
        body["sub_channel"] = station_id
    batch = await partner.call("POST", "/v1/account-batches", body)
    assert batch.status_code == 202, batch.text
    await run_jobs(app)
    rows = (await partner.call("GET", f"/v1/account-batches/{batch.json()['id']}/items")).json()
    assert [r["status"] for r in rows["data"]] == ["opened"] * len(plates), rows
    return [r["customer_id"] for r in rows["data"]]


async def mandate(partner: PartnerHandle, customer_id: str, plate: str, **limits: Any) -> str:
    body = {"customer_id": customer_id, "plate_no": plate, **limits}
    resp = await partner.call("POST", f"{BASE}/mandates", body)
    assert resp.status_code == 201, resp.text
    return str(resp.json()["id"])


def fueling(station_id: str, plate: str, litres_ml: int, **over: Any) -> dict[str, Any]:
    """A correct fuel event: the amount is litres × price, half-up."""
    body: dict[str, Any] = {
        "station_id": station_id,
        "plate_no": plate,
        "pump_no": 3,
        "fuel_grade": "92",
        "litres_ml": litres_ml,
        "unit_price": PRICE,
        "amount": (litres_ml * PRICE * 2 + 1000) // 2000,
    }
    return body | over


async def per_litre_campaign(
    client: Any,
    staff: StaffFactory,
    partner_id: str | None,
    *,
    budget: int,
    per_litre: int = 50,
    cap_per_txn: int = 30_00,
    cap_per_customer_month: int = 100_00,
) -> str:
    manager = await staff.token(f"cm-fuel-{budget}", "channel_manager")
    body: dict[str, Any] = {
        "name": "五毛一升",
        "scenario": "fuel",
        "product_type": "payment",
        "budget": budget,
        "subsidy": {
            "type": "per_litre",
            "value": per_litre,
            "cap_per_txn": cap_per_txn,
            "cap_per_customer_month": cap_per_customer_month,
        },
        "starts_at": "2026-01-01T00:00:00+08:00",
        "ends_at": "2099-01-01T00:00:00+08:00",
    }
    if partner_id is not None:
        body["partner_id"] = partner_id
    resp = await client.post("/admin/v1/campaigns", json=body, headers=manager)
    assert resp.status_code == 201, resp.text
    return str(resp.json()["id"])


async def move_to_yesterday(sessions: Any, txn_ids: list[str]) -> None:
    """Make fuelings belong to the previous business day, as if the clock had passed midnight."""
    async with sessions() as s:
        for txn_id in txn_ids:
            txn = await s.get(Transaction, txn_id)
            row = await s.get(FuelTransaction, txn_id)
            assert txn is not None and row is not None
            txn.occurred_at -= timedelta(days=1)
            txn.business_date = row.business_date = txn.business_date - timedelta(days=1)
        await s.commit()
