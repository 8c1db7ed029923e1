"""Revoking mandates, idempotent retries, and what another partner can (not) see or do."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from litestar import Litestar
from sqlmodel import col, select

from gateway.audit.models import AuditRecord
from gateway.core_banking.models import SandboxMovement
from gateway.scenarios.models import Transaction
from tests.conftest import StaffFactory
from tests.customers.support import people
from tests.partners.support import onboard
from tests.scenarios.fuel.support import (
    BASE,
    fuel_partner,
    fueling,
    mandate,
    open_drivers,
    station,
)
from tests.scenarios.support import assert_ledger_balanced, fund

PLATE = "晋A5B6C7"


async def test_revoked_mandate_stops_charges_and_frees_the_plate(
    client: Any, app: Litestar, staff: StaffFactory, sessions: Any
) -> None:
    partner = await fuel_partner(client, staff)
    station_id = await station(partner)
    [driver, buyer] = await open_drivers(partner, app, [PLATE, PLATE], 900, station_id)
    await fund(client, staff, driver, 1_000_00)
    mandate_id = await mandate(partner, driver, PLATE)
    assert (
        await partner.call("POST", f"{BASE}/transactions", fueling(station_id, PLATE, 10_000))
    ).status_code == 201

    revoked = await partner.call("DELETE", f"{BASE}/mandates/{mandate_id}")
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["status"] == "revoked" and revoked.json()["revoked_at"] is not None
    again = await partner.call("DELETE", f"{BASE}/mandates/{mandate_id}")
    assert (again.status_code, again.json()["revoked_at"]) == (200, revoked.json()["revoked_at"])
    refused = await partner.call("POST", f"{BASE}/transactions", fueling(station_id, PLATE, 10_000))
    assert (refused.status_code, refused.json()["code"]) == (422, "mandate_missing")

    # The car was sold: its new owner binds the same plate, and fuelings charge the new owner.
    await fund(client, staff, buyer, 1_000_00)
    new_id = await mandate(partner, buyer, PLATE)
    charged = await partner.call("POST", f"{BASE}/transactions", fueling(station_id, PLATE, 10_000))
    assert (charged.json()["customer_id"], charged.json()["mandate_id"]) == (buyer, new_id)
    listed = (await partner.call("GET", f"{BASE}/mandates?customer_id={driver}")).json()["data"]
    assert [(m["id"], m["status"]) for m in listed] == [(mandate_id, "revoked")]
    got = (await partner.call("GET", f"{BASE}/mandates/{new_id}")).json()
    assert (got["customer_id"], got["status"]) == (buyer, "active")

    async with sessions() as s:
        actions = (
            await s.scalars(
                select(AuditRecord.action)
                .where(col(AuditRecord.subject_id) == mandate_id)
                .order_by(col(AuditRecord.id))
            )
        ).all()
    assert actions == ["fuel.mandate_created", "fuel.mandate_revoked"]


async def test_a_retried_fueling_is_charged_once(
    client: Any, app: Litestar, staff: StaffFactory, sessions: Any
) -> None:
    partner = await fuel_partner(client, staff)
    station_id = await station(partner)
    [driver] = await open_drivers(partner, app, [PLATE], 901, station_id)
    await fund(client, staff, driver, 1_000_00)
    await mandate(partner, driver, PLATE)
    body = fueling(station_id, PLATE, 20_000, external_ref="pump3-0001")
    first = await partner.call("POST", f"{BASE}/transactions", body, idempotency_key="fuel-1")
    assert first.status_code == 201, first.text
    replay = await partner.call("POST", f"{BASE}/transactions", body, idempotency_key="fuel-1")
    assert replay.status_code == 201
    assert replay.json() == first.json() and replay.headers["idempotent-replayed"] == "true"
    reused = await partner.call(
        "POST", f"{BASE}/transactions", body | {"pump_no": 4}, idempotency_key="fuel-1"
    )
    assert (reused.status_code, reused.json()["code"]) == (422, "idempotency_key_reused")

    refund_path = f"{BASE}/transactions/{first.json()['id']}/refunds"
    r1 = await partner.call("POST", refund_path, {"amount": 50_00}, idempotency_key="back-1")
    r2 = await partner.call("POST", refund_path, {"amount": 50_00}, idempotency_key="back-1")
    assert r1.status_code == r2.status_code == 201 and r1.json() == r2.json()
    assert (await partner.call("GET", f"{BASE}/transactions/{first.json()['id']}")).json()[
        "refunded"
    ] == 50_00

    async with sessions() as s:
        movements = (
            await s.execute(
                select(SandboxMovement.kind, SandboxMovement.amount, SandboxMovement.reference)
                .where(col(SandboxMovement.reference).like("fuel%"))
                .order_by(col(SandboxMovement.kind))
            )
        ).all()
        count = await s.scalar(select(sa.func.count()).select_from(Transaction))
    assert [(kind, amount) for kind, amount, _ in movements] == [
        ("credit", 50_00),
        ("debit", 150_00),
    ]
    assert count == 2  # the payment and its refund
    await assert_ledger_balanced(sessions)


async def test_another_partner_sees_and_touches_nothing(
    client: Any, app: Litestar, staff: StaffFactory
) -> None:
    partner = await fuel_partner(client, staff)
    other = await fuel_partner(client, staff)
    station_id = await station(partner)
    [driver] = await open_drivers(partner, app, [PLATE], 902, station_id)
    await fund(client, staff, driver, 1_000_00)
    mandate_id = await mandate(partner, driver, PLATE)
    paid = await partner.call("POST", f"{BASE}/transactions", fueling(station_id, PLATE, 10_000))
    txn_id = paid.json()["id"]

    for path in (
        f"{BASE}/stations/{station_id}",
        f"{BASE}/mandates/{mandate_id}",
        f"{BASE}/transactions/{txn_id}",
    ):
        resp = await other.call("GET", path)
        assert (resp.status_code, resp.json()["code"]) == (404, "not_found"), path
    assert (await other.call("DELETE", f"{BASE}/mandates/{mandate_id}")).status_code == 404
    assert (
        await other.call("POST", f"{BASE}/transactions/{txn_id}/refunds", {"amount": 1_00})
    ).status_code == 404
    assert (
        await other.call("POST", f"{BASE}/transactions", fueling(station_id, PLATE, 10_000))
    ).status_code == 404
    assert (
        await other.call("POST", f"{BASE}/mandates", {"customer_id": driver, "plate_no": PLATE})
    ).status_code == 404
    for listing in ("stations", "mandates", "transactions"):
        assert (await other.call("GET", f"{BASE}/{listing}")).json()["data"] == [], listing

    # Its own station is another plate's mandate space: the same plate binds there too.
    other_station = await station(other)
    [other_driver] = await open_drivers(other, app, [PLATE], 903, other_station)
    assert await mandate(other, other_driver, PLATE)
    # A batch may only name one of the partner's own stations as its sub-channel.
    batch = await other.call(
        "POST",
        "/v1/account-batches",
        {"scenario": "fuel", "sub_channel": station_id, "items": people(904, 1)},
    )
    assert (batch.status_code, batch.json()["code"]) == (422, "sub_channel_unknown")
    # A partner not approved for fuel cannot reach the routes at all.
    community = await onboard(client, staff, webhook_url=None, scenarios=["community"])
    assert (await community.call("GET", f"{BASE}/stations")).status_code == 403
