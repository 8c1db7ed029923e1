"""Applications in the console: queue, masked detail, review, and the four-eyes decision."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from litestar import Litestar
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.audit.models import AuditRecord
from tests.conftest import StaffFactory
from tests.console.support import Visitor
from tests.factories import keypair
from tests.partners.support import application_body


async def _apply(client: Any, **overrides: Any) -> tuple[str, dict[str, Any]]:
    _, public = keypair()
    body = application_body(public, **overrides)
    resp = await client.post("/v1/partner-applications", json=body)
    assert resp.status_code == 201, resp.text
    return resp.json()["id"], body


async def test_review_then_four_eyes_then_approval(
    app: Litestar,
    client: Any,
    staff: StaffFactory,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    app_id, body = await _apply(client, legal_name="绿城物业服务有限公司")
    await staff.create("both", "ops_maker", "ops_checker")
    await staff.create("chk", "ops_checker")
    async with Visitor(app) as both, Visitor(app) as chk:
        await both.sign_in("both")
        queue = await both.get("/console/applications?status=submitted")
        assert f"/console/applications/{app_id}" in queue.text
        detail = await both.get(f"/console/applications/{app_id}")
        assert "绿城物业服务有限公司" in detail.text
        assert body["contact"]["phone"] not in detail.text  # masked
        assert body["settlement_account"]["account_no"] not in detail.text
        assert "/review" in detail.text
        assert "/approve" not in detail.text  # nothing to decide before a review

        reviewed = await both.submit(
            f"/console/applications/{app_id}/review", recommendation="approve", note="资料齐全"
        )
        assert reviewed.status_code == 303
        detail = await both.get(reviewed.headers["location"])
        assert "资料齐全" in detail.text
        assert "both (您本人)" in detail.text
        assert 'disabled aria-describedby="four-eyes"' in detail.text
        assert "双人复核" in detail.text

        refused = await both.submit(f"/console/applications/{app_id}/approve", note="")
        assert refused.status_code == 403
        assert "four_eyes_violation" in refused.text
        assert f'href="/console/applications/{app_id}"' in refused.text
        reject = await both.submit(f"/console/applications/{app_id}/reject", reason="x")
        assert reject.status_code == 403

        await chk.sign_in("chk")
        detail = await chk.get(f"/console/applications/{app_id}")
        assert "disabled" not in detail.text
        approved = await chk.submit(f"/console/applications/{app_id}/approve", note="同意")
        assert approved.status_code == 200
        assert approved.headers["cache-control"] == "no-store"
        assert "客户端密钥" in approved.text
        partners = await chk.get("/console/partners?status=active")
        assert "绿城物业服务有限公司" in partners.text

    async with sessions() as s:
        actions = (
            await s.execute(
                sa.select(AuditRecord.actor, AuditRecord.action).where(
                    AuditRecord.subject_id == app_id
                )
            )
        ).all()
    assert ("staff:both", "partner_application.reviewed") in actions
    assert ("staff:chk", "partner_application.approved") in actions
    assert not any(a == "staff:both" and "approved" in act for a, act in actions)


async def test_invalid_forms_are_refused_with_the_api_rules(
    app: Litestar, client: Any, staff: StaffFactory
) -> None:
    app_id, _ = await _apply(client)
    await staff.create("mk", "ops_maker")
    await staff.create("chk", "ops_checker")
    async with Visitor(app) as mk, Visitor(app) as chk:
        await mk.sign_in("mk")
        bad = await mk.submit(f"/console/applications/{app_id}/review", recommendation="maybe")
        assert bad.status_code == 422
        assert "recommendation" in bad.text
        await mk.submit(f"/console/applications/{app_id}/review", recommendation="reject")
        await chk.sign_in("chk")
        blank = await chk.submit(f"/console/applications/{app_id}/reject", reason="")
        assert blank.status_code == 422
        rejected = await chk.submit(f"/console/applications/{app_id}/reject", reason="资质不符")
        assert rejected.status_code == 303
        again = await chk.submit(f"/console/applications/{app_id}/approve", note="")
        assert again.status_code == 409
        missing = await chk.get("/console/applications/pap_nope")
        assert missing.status_code == 404


async def test_status_filter_answers_htmx_with_the_table_only(
    app: Litestar, client: Any, staff: StaffFactory
) -> None:
    await _apply(client, legal_name="Alpha Property")
    await staff.create("aud", "auditor")
    async with Visitor(app) as aud:
        await aud.sign_in("aud")
        fragment = await aud.get(
            "/console/applications?status=submitted", headers={"HX-Request": "true"}
        )
        assert "Alpha Property" in fragment.text
        assert "<html" not in fragment.text
        none = await aud.get("/console/applications?status=approved")
        assert "Alpha Property" not in none.text
        assert "<html" in none.text
