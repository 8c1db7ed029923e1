"""Helpers for campus tests: a university partner, students and staff opened through a batch."""

from __future__ import annotations

import random
from datetime import date
from typing import Any

from litestar import Litestar

from tests.conftest import StaffFactory, run_jobs
from tests.customers.support import person
from tests.factories import fake_resident_id
from tests.partners.support import PartnerHandle, onboard

BASE = "/v1/scenarios/campus"


async def university(
    client: Any, staff: StaffFactory, scenarios: list[str] | None = None
) -> PartnerHandle:
    return await onboard(client, staff, scenarios=scenarios or ["campus"], webhook_url=None)


def member(
    rng: random.Random,
    n: int,
    student_no: Any,
    role: Any,
    born: date | None = None,
    **overrides: Any,
) -> dict[str, Any]:
    """One batch row; ``student_no`` or ``role`` of ``None`` leaves the attribute out."""
    attributes = {k: v for k, v in (("student_no", student_no), ("role", role)) if v is not None}
    row = person(rng, n, external_ref=f"member-{n}", attributes=attributes, **overrides)
    if born is not None:
        row["id_number"] = fake_resident_id(rng, born)
    return row


async def open_batch(
    partner: PartnerHandle, app: Litestar, rows: list[dict[str, Any]], **extra: Any
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Submit a campus batch, run it, and return the batch and its items in row order."""
    submitted = await partner.call(
        "POST", "/v1/account-batches", {"scenario": "campus", "items": rows, **extra}
    )
    assert submitted.status_code == 202, submitted.text
    await run_jobs(app)
    batch_id = submitted.json()["id"]
    batch = (await partner.call("GET", f"/v1/account-batches/{batch_id}")).json()
    items = (await partner.call("GET", f"/v1/account-batches/{batch_id}/items")).json()["data"]
    return batch, items


async def cards_by_student_no(partner: PartnerHandle) -> dict[str, dict[str, Any]]:
    listed = await partner.call("GET", f"{BASE}/cards?limit=500")
    assert listed.status_code == 200, listed.text
    return {c["student_no"]: c for c in listed.json()["data"]}


async def freshmen(
    partner: PartnerHandle, app: Litestar, seed: int, students: int = 2, staff: int = 1
) -> dict[str, dict[str, Any]]:
    """Open ``students`` students (S001…) and ``staff`` staff (T001…); their cards by number."""
    rng = random.Random(seed)
    rows = [member(rng, n, f"S{n:03d}", "student") for n in range(1, students + 1)]
    rows += [member(rng, 100 + n, f"T{n:03d}", "staff") for n in range(1, staff + 1)]
    batch, _ = await open_batch(partner, app, rows)
    assert batch["status"] == "completed", batch
    return await cards_by_student_no(partner)


async def merchant(partner: PartnerHandle, ref: str = "canteen-1", kind: str = "canteen") -> str:
    resp = await partner.call(
        "POST",
        f"{BASE}/merchants",
        {"external_ref": ref, "name": f"Merchant {ref}", "type": kind},
    )
    assert resp.status_code == 201, resp.text
    return str(resp.json()["id"])
