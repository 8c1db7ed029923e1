"""Single openings: one person, one customer across partners; masked reads; isolation."""

from __future__ import annotations

import random
from datetime import date
from typing import Any

import sqlalchemy as sa

from gateway.core_banking.models import SandboxAccount
from gateway.customers.models import Customer, Touchpoint
from tests.conftest import StaffFactory
from tests.customers.support import person
from tests.factories import fake_resident_id
from tests.partners.support import onboard


async def test_open_then_existing_across_partners(
    client: Any, staff: StaffFactory, sessions: Any
) -> None:
    rng = random.Random(1)
    first = await onboard(client, staff)
    second = await onboard(client, staff)
    row = person(rng, 1)
    opened = await first.call("POST", "/v1/customers", row | {"scenario": "community"})
    assert opened.status_code == 201, opened.text
    body = opened.json()
    assert body["status"] == "opened"
    assert body["account_no"].startswith("6222") and "*" in body["account_no"]

    again = await second.call(
        "POST", "/v1/customers", row | {"external_ref": "their-ref", "scenario": "community"}
    )
    assert again.status_code == 201
    assert again.json() == {**body, "status": "existing"}

    read = await second.call("GET", f"/v1/customers/{body['id']}")
    assert read.status_code == 200
    shown = read.json()
    assert shown["name"] == "张*"
    assert shown["id_number"] == row["id_number"][0] + "*" * 16 + row["id_number"][-1]
    assert shown["phone"] == row["phone"][:3] + "******" + row["phone"][-2:]
    assert shown["external_ref"] == "their-ref"
    assert shown["minor"] is False

    async with sessions() as s:
        assert await s.scalar(sa.select(sa.func.count()).select_from(Customer)) == 1
        assert await s.scalar(sa.select(sa.func.count()).select_from(SandboxAccount)) == 1
        kinds = (await s.scalars(sa.select(Touchpoint.kind).order_by(Touchpoint.id))).all()
        raw = (await s.scalars(sa.select(Customer.id_number))).one()
    assert kinds == ["opened", "existing"]
    assert row["id_number"] not in raw  # encrypted at rest


async def test_row_rules_answer_422_with_their_code(
    client: Any, staff: StaffFactory, sessions: Any
) -> None:
    rng = random.Random(2)
    partner = await onboard(client, staff)
    cases = {
        "id_number_invalid": {"id_number": "110105199003070000"},
        "minor_requires_guardian": {"id_number": fake_resident_id(rng, date(2015, 1, 1))},
        "phone_invalid": {"phone": "12345"},
        "name_invalid": {"name": "X"},
    }
    for code, change in cases.items():
        resp = await partner.call(
            "POST", "/v1/customers", person(rng, 1, **change) | {"scenario": "community"}
        )
        assert (resp.status_code, resp.json()["code"]) == (422, code), resp.text
    async with sessions() as s:
        assert await s.scalar(sa.select(sa.func.count()).select_from(Customer)) == 0


async def test_external_ref_names_one_person(client: Any, staff: StaffFactory) -> None:
    rng = random.Random(3)
    partner = await onboard(client, staff)
    assert (
        await partner.call("POST", "/v1/customers", person(rng, 1) | {"scenario": "community"})
    ).status_code == 201
    clash = await partner.call("POST", "/v1/customers", person(rng, 1) | {"scenario": "community"})
    assert (clash.status_code, clash.json()["code"]) == (422, "external_ref_conflict")


async def test_scenario_must_be_granted_and_foreign_customers_hidden(
    client: Any, staff: StaffFactory
) -> None:
    rng = random.Random(5)
    partner = await onboard(client, staff)
    other = await onboard(client, staff)
    denied = await partner.call("POST", "/v1/customers", person(rng, 1) | {"scenario": "fuel"})
    assert (denied.status_code, denied.json()["code"]) == (403, "scenario_not_granted")
    made = await partner.call("POST", "/v1/customers", person(rng, 2) | {"scenario": "community"})
    customer_id = made.json()["id"]
    assert (await other.call("GET", f"/v1/customers/{customer_id}")).status_code == 404
    assert (await other.call("GET", "/v1/customers/cus_unknown")).status_code == 404


async def test_sandbox_deposit_is_admin_only(client: Any, staff: StaffFactory) -> None:
    rng = random.Random(6)
    partner = await onboard(client, staff)
    customer_id = (
        await partner.call("POST", "/v1/customers", person(rng, 1) | {"scenario": "community"})
    ).json()["id"]
    finance = await staff.token("fin", "finance")
    path = f"/admin/v1/sandbox/customers/{customer_id}/deposits"
    assert (await client.post(path, json={"amount": 100_00}, headers=finance)).status_code == 403
    admin = await staff.token("root", "admin")
    funded = await client.post(path, json={"amount": 100_00}, headers=admin)
    assert funded.status_code == 201, funded.text
    assert funded.json()["status"] == "succeeded"
    assert (await client.post(path, json={"amount": 0}, headers=admin)).status_code == 422
