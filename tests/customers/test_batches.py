"""Account batches: uploads in three formats, row rules, chunked processing, results, webhooks."""

from __future__ import annotations

import io
import json
import random
from datetime import date, timedelta
from typing import Any

import httpx
import respx
import sqlalchemy as sa
from litestar import Litestar
from openpyxl import Workbook
from sqlmodel import col

from gateway.auth.signatures import verify_request
from gateway.customers import batches, uploads
from gateway.customers.models import Customer
from gateway.db import utcnow
from gateway.notifications.models import WebhookDelivery
from tests.conftest import StaffFactory, run_jobs
from tests.customers.support import people, person
from tests.factories import fake_resident_id
from tests.partners.support import PartnerHandle, onboard

WEBHOOK = "http://127.0.0.1:9/hooks"


def csv_bytes(rows: list[dict[str, Any]], *, bom: bool = False) -> bytes:
    cells = ("external_ref", "name", "id_number", "phone")
    lines = ["external_ref,name,id_number,phone,unit,device_id"]
    lines += [",".join(str(r[c]) for c in cells) + ",1-101,dev-1" for r in rows]
    return ("\ufeff" if bom else "").encode() + "\n".join(lines).encode()


async def upload(
    partner: PartnerHandle, body: bytes, media: str, query: str = "?scenario=community"
) -> Any:
    if not partner.token:
        await partner.fetch_token()
    path = f"/v1/account-batches{query}"
    headers = partner.sign(
        "POST", path, body, {"Content-Type": media, "Idempotency-Key": f"up-{len(body)}-{query}"}
    )
    return await partner.client.post(path, content=body, headers=headers)


async def items(partner: PartnerHandle, batch_id: str, query: str = "") -> list[dict[str, Any]]:
    resp = await partner.call("GET", f"/v1/account-batches/{batch_id}/items{query}")
    assert resp.status_code == 200, resp.text
    data: list[dict[str, Any]] = resp.json()["data"]
    return data


async def test_json_batch_end_to_end_with_signed_webhook(
    client: Any, app: Litestar, staff: StaffFactory, sessions: Any
) -> None:
    rng = random.Random(10)
    partner = await onboard(client, staff)
    rows = [
        *people(11, 4),
        person(rng, 5, id_number="110105199003070000"),  # bad checksum
        person(rng, 6, phone="123"),
        person(rng, 7, id_number=fake_resident_id(rng, date(2016, 5, 5))),
    ]
    rows.append(dict(rows[0], external_ref="owner-dup"))  # same person again
    community = await partner.call(
        "POST",
        "/v1/scenarios/community/communities",
        {"external_ref": "c-9", "name": "Garden Court", "address": "1 Road", "households": 10},
    )
    assert community.status_code == 201, community.text
    community_id = community.json()["id"]
    bogus = await partner.call(
        "POST",
        "/v1/account-batches",
        {"scenario": "community", "sub_channel": "cmt_x", "items": rows},
    )
    assert (bogus.status_code, bogus.json()["code"]) == (422, "sub_channel_unknown")
    resp = await partner.call(
        "POST",
        "/v1/account-batches",
        {"scenario": "community", "sub_channel": community_id, "items": rows},
    )
    assert resp.status_code == 202, resp.text
    accepted = resp.json()
    assert accepted["status"] == "queued" and accepted["total"] == 8

    with respx.mock(assert_all_called=True) as mock:
        hook = mock.post(WEBHOOK).mock(return_value=httpx.Response(204))
        await run_jobs(app)
    batch = (await partner.call("GET", f"/v1/account-batches/{accepted['id']}")).json()
    assert {
        k: batch[k] for k in ("status", "total", "processed", "opened", "existing", "rejected")
    } == {
        "status": "completed_with_errors",
        "total": 8,
        "processed": 8,
        "opened": 4,
        "existing": 0,
        "rejected": 4,
    }
    rejected = await items(partner, accepted["id"], "?status=rejected")
    assert [(i["row"], i["error"]["code"]) for i in rejected] == [
        (5, "id_number_invalid"),
        (6, "phone_invalid"),
        (7, "minor_requires_guardian"),
        (8, "duplicate_in_batch"),
    ]
    opened = await items(partner, accepted["id"], "?status=opened")
    assert [i["row"] for i in opened] == [1, 2, 3, 4]
    assert all(i["customer_id"].startswith("cus_") and "*" in i["account_no"] for i in opened)

    request = hook.calls.last.request
    event = json.loads(request.content)
    assert event["type"] == "account_batch.completed"
    assert event["data"]["opened"] == 4
    jwks = (await client.get("/.well-known/jwks.json")).json()
    signed = await verify_request(
        method="POST",
        target_uri=WEBHOOK,
        headers=dict(request.headers),
        body=request.content,
        resolve_key=lambda kid: next((k for k in jwks["keys"] if k["kid"] == kid), None),
        nonces=app.state.nonces,
        nonce_scope="test-webhook",
    )
    assert signed.key_id == jwks["keys"][0]["kid"]
    async with sessions() as s:
        assert await s.scalar(sa.select(sa.func.count()).select_from(Customer)) == 4
        delivery = (await s.scalars(sa.select(WebhookDelivery))).one()
    assert (delivery.status, delivery.attempts) == ("succeeded", 1)
    stats = (
        await partner.call("GET", f"/v1/scenarios/community/communities/{community_id}/stats")
    ).json()
    assert (stats["owners_with_accounts"], stats["coverage"]) == (
        4,
        0.4,
    )  # the scenario saw its owners
    stats = (
        await partner.call("GET", f"/v1/scenarios/community/communities/{community_id}/stats")
    ).json()
    assert (stats["owners_with_accounts"], stats["coverage"]) == (
        4,
        0.4,
    )  # the scenario saw its owners


async def test_csv_and_xlsx_uploads(client: Any, app: Litestar, staff: StaffFactory) -> None:
    partner = await onboard(client, staff)
    rows = people(20, 3)
    csv_resp = await upload(partner, csv_bytes(rows, bom=True), "text/csv", "?scenario=community")
    assert csv_resp.status_code == 202, csv_resp.text

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["external_ref", "name", "id_number", "phone", "unit"])
    for r in people(21, 2):
        sheet.append([r["external_ref"] + "x", r["name"], r["id_number"], r["phone"], "2-202"])
    buffer = io.BytesIO()
    book.save(buffer)
    xlsx_resp = await upload(partner, buffer.getvalue(), uploads.XLSX_TYPE)
    assert xlsx_resp.status_code == 202, xlsx_resp.text

    with respx.mock() as mock:
        mock.post(WEBHOOK).mock(return_value=httpx.Response(200))
        await run_jobs(app)
    for resp, opened in ((csv_resp, 3), (xlsx_resp, 2)):
        batch = (await partner.call("GET", f"/v1/account-batches/{resp.json()['id']}")).json()
        assert (batch["status"], batch["opened"]) == ("completed", opened)


async def test_unreadable_uploads_are_refused_whole(
    client: Any, staff: StaffFactory, sessions: Any
) -> None:
    partner = await onboard(client, staff)
    cases = [
        (b"", "text/csv", "batch_empty"),
        (b"external_ref,name,phone\nx,y,13800138000", "text/csv", "header_invalid"),
        ("name,id_number,phone\n张三,1,2".encode("gb18030"), "text/csv", "encoding_invalid"),
        (b'name,id_number,phone\n"unterminated,1,2\n', "text/csv", "csv_invalid"),
        (b"PK\x03\x04 not really a workbook", uploads.XLSX_TYPE, "xlsx_invalid"),
    ]
    for body, media, code in cases:
        resp = await upload(partner, body, media)
        assert (resp.status_code, resp.json()["code"]) == (422, code), (code, resp.text)
    no_scenario = await upload(partner, csv_bytes(people(1, 1)), "text/csv", "")
    assert no_scenario.json()["code"] == "scenario_missing"
    async with sessions() as s:
        assert await s.scalar(sa.text("SELECT count(*) FROM account_batches")) == 0


async def test_too_many_rows_is_413(client: Any, staff: StaffFactory, monkeypatch: Any) -> None:
    monkeypatch.setattr(uploads, "MAX_ROWS", 5)
    partner = await onboard(client, staff)
    resp = await upload(partner, csv_bytes(people(30, 6)), "text/csv")
    assert (resp.status_code, resp.json()["code"]) == (413, "batch_too_large")
    json_resp = await partner.call(
        "POST", "/v1/account-batches", {"scenario": "community", "items": people(31, 6)}
    )
    assert (json_resp.status_code, json_resp.json()["code"]) == (413, "batch_too_large")
    ok = await upload(partner, csv_bytes(people(32, 5)), "text/csv")
    assert ok.status_code == 202


async def test_scenario_not_granted(client: Any, staff: StaffFactory) -> None:
    partner = await onboard(client, staff)
    resp = await partner.call(
        "POST", "/v1/account-batches", {"scenario": "campus", "items": people(40, 1)}
    )
    assert (resp.status_code, resp.json()["code"]) == (403, "scenario_not_granted")


async def test_items_paginate_and_export_csv_safely(
    client: Any, app: Litestar, staff: StaffFactory, monkeypatch: Any
) -> None:
    monkeypatch.setattr(batches, "chunk_size", lambda settings: 2)  # one queues the next
    partner = await onboard(client, staff)
    rows = people(50, 5)
    rows[1]["external_ref"] = '=HYPERLINK("http://evil.example","x")'
    batch_id = (
        await partner.call("POST", "/v1/account-batches", {"scenario": "community", "items": rows})
    ).json()["id"]
    with respx.mock() as mock:
        mock.post(WEBHOOK).mock(return_value=httpx.Response(200))
        await run_jobs(app)
    page = (await partner.call("GET", f"/v1/account-batches/{batch_id}/items?limit=2")).json()
    assert [i["row"] for i in page["data"]] == [1, 2]
    nxt = (
        await partner.call(
            "GET", f"/v1/account-batches/{batch_id}/items?limit=2&cursor={page['next_cursor']}"
        )
    ).json()
    assert [i["row"] for i in nxt["data"]] == [3, 4]
    exported = await partner.call("GET", f"/v1/account-batches/{batch_id}/items?format=csv")
    assert exported.headers["content-type"].startswith("text/csv")
    assert "'=HYPERLINK" in exported.text
    assert "\n=HYPERLINK" not in exported.text and ",=HYPERLINK" not in exported.text
    other = await onboard(client, staff)
    assert (await other.call("GET", f"/v1/account-batches/{batch_id}")).status_code == 404
    assert (await other.call("GET", f"/v1/account-batches/{batch_id}/items")).status_code == 404


async def test_batch_fails_when_the_core_stays_down(
    client: Any, app: Litestar, staff: StaffFactory, sessions: Any, monkeypatch: Any
) -> None:
    from gateway.core_banking import CoreBankingUnavailable  # noqa: PLC0415
    from gateway.core_banking.sandbox import SandboxCore  # noqa: PLC0415
    from gateway.jobs.models import Job  # noqa: PLC0415

    async def down(*args: Any, **kwargs: Any) -> None:
        raise CoreBankingUnavailable("core unreachable")

    monkeypatch.setattr(SandboxCore, "open_account", down)
    monkeypatch.setattr(SandboxCore, "open_accounts", down)  # the batch path asks per chunk
    partner = await onboard(client, staff, webhook_url=None)
    batch_id = (
        await partner.call(
            "POST", "/v1/account-batches", {"scenario": "community", "items": people(60, 2)}
        )
    ).json()["id"]
    await run_jobs(app)  # the rows are screened; opening them fails and is retried later
    async with sessions() as s:  # its last attempt, due now
        await s.execute(
            sa.update(Job)
            .where(col(Job.status) == "queued")
            .values(max_attempts=1, attempts=0, run_at=utcnow() - timedelta(seconds=1))
        )
        await s.commit()
    await run_jobs(app)
    batch = (await partner.call("GET", f"/v1/account-batches/{batch_id}")).json()
    assert (batch["status"], batch["processed"], batch["opened"]) == ("failed", 0, 0)
    pending = await items(partner, batch_id, "?status=pending")
    assert [i["row"] for i in pending] == [1, 2]  # nothing lost: the rows wait, unopened
    async with sessions() as s:  # what ops read on the dead job names the cause
        errors = (await s.scalars(sa.select(Job.last_error).where(col(Job.status) == "dead"))).all()
    assert errors == ["CoreBankingUnavailable: core unreachable"]
