"""Applications under maker-checker, partner lifecycle and credentials (DESIGN §5)."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.audit.models import AuditRecord
from gateway.errors import ValidationFailed
from gateway.net import check_outbound_url
from gateway.partners.models import PartnerApplication
from gateway.settings import Settings
from tests.conftest import StaffFactory
from tests.factories import keypair
from tests.partners.support import application_body, onboard


async def _count(sessions: async_sessionmaker[AsyncSession], model: Any) -> int:
    async with sessions() as s:
        return int(await s.scalar(sa.select(sa.func.count()).select_from(model)) or 0)


async def test_apply_returns_id_and_status_only(client: Any) -> None:
    _, public = keypair()
    resp = await client.post("/v1/partner-applications", json=application_body(public))
    assert resp.status_code == 201
    body = resp.json()
    assert body["status"] == "submitted"
    assert body["id"].startswith("pap_")
    status = await client.get(f"/v1/partner-applications/{body['id']}")
    assert status.json() == {"id": body["id"], "status": "submitted"}
    assert (await client.get("/v1/partner-applications/pap_nope")).status_code == 404


@pytest.mark.parametrize(
    ("change", "field", "code"),
    [
        ({"uscc": "91110108551385082A"}, "uscc", "uscc_invalid"),
        (
            {"contact": {"name": "李四", "phone": "12345", "email": "a@b.cn"}},
            "contact.phone",
            "phone_invalid",
        ),
        ({"scenarios": ["casino"]}, "scenarios", "scenario_unknown"),
        (
            {"scenarios": ["stored_value"]},
            "scenario_profile.stored_value.industry",
            "profile_invalid",
        ),
        ({"webhook_url": "http://10.0.0.8/hook"}, "webhook_url", "url_not_allowed"),
        ({"webhook_url": "http://169.254.169.254/latest"}, "webhook_url", "url_not_allowed"),
        ({"webhook_url": "ftp://example.test/x"}, "webhook_url", "url_not_allowed"),
    ],
)
async def test_invalid_application_is_rejected_whole(
    client: Any,
    sessions: async_sessionmaker[AsyncSession],
    change: dict[str, Any],
    field: str,
    code: str,
) -> None:
    _, public = keypair()
    resp = await client.post("/v1/partner-applications", json=application_body(public, **change))
    assert resp.status_code == 422, resp.text
    errors = resp.json()["errors"]
    assert {"field": field, "code": code} in [
        {"field": e["field"], "code": e["code"]} for e in errors
    ]
    assert await _count(sessions, PartnerApplication) == 0


async def test_bad_jwks_are_rejected(client: Any) -> None:
    private, public = keypair()
    _, rsa_small = keypair("rsa")
    cases = [
        {"keys": [private]},  # private key material
        {"keys": [public, public]},  # duplicate kid
        {"keys": [{k: v for k, v in public.items() if k != "kid"}]},
        {"keys": [{"kty": "oct", "k": "c2VjcmV0", "kid": "sym"}]},
    ]
    for jwks in cases:
        resp = await client.post(
            "/v1/partner-applications", json=application_body(public, jwks=jwks)
        )
        assert resp.status_code == 422, (jwks, resp.text)
        assert resp.json()["errors"][0]["code"] == "jwks_invalid"
    ok = await client.post(
        "/v1/partner-applications", json=application_body(public, jwks={"keys": [rsa_small]})
    )
    assert ok.status_code == 201  # RSA-2048 is accepted


async def test_mass_assignment_and_oversize_are_refused(client: Any) -> None:
    _, public = keypair()
    sneaky = application_body(public, status="approved")
    resp = await client.post("/v1/partner-applications", json=sneaky)
    assert resp.status_code == 422
    assert resp.json()["errors"][0] == {
        "field": "status",
        "code": "unknown_field",
        "message": "Object contains unknown field `status`",
    }
    huge = application_body(public, legal_name="x" * 70_000)
    assert (await client.post("/v1/partner-applications", json=huge)).status_code == 413


async def test_application_form_is_rate_limited_per_ip(client: Any) -> None:
    _, public = keypair()
    body = application_body(public, uscc="bad")
    codes = [
        (await client.post("/v1/partner-applications", json=body)).status_code for _ in range(31)
    ]
    assert codes[:30] == [422] * 30
    assert codes[30] == 429
    limited = await client.post("/v1/partner-applications", json=body)
    assert limited.json()["code"] == "rate_limited"
    assert {"retry-after", "ratelimit-limit", "ratelimit-remaining", "ratelimit-reset"} <= set(
        limited.headers
    )


async def test_ssrf_guard_in_production(settings: Settings) -> None:
    prod = settings.model_copy(update={"env": "production"})
    for url in (
        "http://example.test/hook",
        "https://127.0.0.1/hook",
        "https://10.1.2.3/x",
        "https://[::1]/x",
    ):
        with pytest.raises(ValidationFailed) as err:
            await check_outbound_url(url, prod)
        assert err.value.code == "url_not_allowed"
    allow = prod.model_copy(update={"ssrf_allowlist": ["127.0.0.1"]})
    await check_outbound_url("https://127.0.0.1/hook", allow)
    await check_outbound_url("https://93.184.215.14/hook", prod)


async def test_maker_checker_flow_with_audit_and_masking(
    client: Any, staff: StaffFactory, sessions: async_sessionmaker[AsyncSession]
) -> None:
    _, public = keypair()
    body = application_body(public, rng=random.Random(7))
    app_id = (await client.post("/v1/partner-applications", json=body)).json()["id"]
    maker = await staff.token("maker", "ops_maker")
    checker = await staff.token("checker", "ops_checker")

    early = await client.post(
        f"/admin/v1/partner-applications/{app_id}/approve", json={}, headers=checker
    )
    assert early.status_code == 409
    assert early.json()["code"] == "state_conflict"
    assert (
        await client.post(
            f"/admin/v1/partner-applications/{app_id}/review",
            json={"recommendation": "approve"},
            headers=checker,
        )
    ).status_code == 403

    detail = (await client.get(f"/admin/v1/partner-applications/{app_id}", headers=maker)).json()
    assert detail["legal_representative"] == "王**"
    assert (
        detail["contact"]["phone"]
        == body["contact"]["phone"][:3] + "******" + body["contact"]["phone"][-2:]
    )
    assert body["settlement_account"]["account_no"] not in str(detail)

    reviewed = await client.post(
        f"/admin/v1/partner-applications/{app_id}/review",
        json={"recommendation": "approve", "note": "ok"},
        headers=maker,
    )
    assert reviewed.json()["status"] == "reviewed"
    approved = await client.post(
        f"/admin/v1/partner-applications/{app_id}/approve", json={"note": "fine"}, headers=checker
    )
    assert approved.status_code == 200
    creds = approved.json()
    assert creds["partner_id"].startswith("ptn_") and creds["client_secret"]

    partner = (
        await client.get(f"/admin/v1/partners/{creds['partner_id']}", headers=checker)
    ).json()
    assert partner["status"] == "active"
    assert "scenario:community" in partner["scopes"]
    assert creds["client_secret"] not in str(partner)
    async with sessions() as s:
        actions = (await s.scalars(sa.select(AuditRecord.action).order_by(AuditRecord.id))).all()
    assert actions == [
        "partner_application.submitted",
        "staff.user_added",
        "staff.user_added",
        "partner_application.reviewed",
        "partner_application.approved",
    ]


async def test_four_eyes_binds_a_user_holding_both_roles(client: Any, staff: StaffFactory) -> None:
    _, public = keypair()
    app_id = (await client.post("/v1/partner-applications", json=application_body(public))).json()[
        "id"
    ]
    both = await staff.token("both", "ops_maker", "ops_checker")
    await client.post(
        f"/admin/v1/partner-applications/{app_id}/review",
        json={"recommendation": "approve"},
        headers=both,
    )
    for action, body in (("approve", {}), ("reject", {"reason": "no"})):
        resp = await client.post(
            f"/admin/v1/partner-applications/{app_id}/{action}", json=body, headers=both
        )
        assert resp.status_code == 403
        assert resp.json()["code"] == "four_eyes_violation"
    admin = await staff.token("root", "admin")
    assert (
        await client.post(
            f"/admin/v1/partner-applications/{app_id}/reject",
            json={"reason": "incomplete"},
            headers=admin,
        )
    ).json()["status"] == "rejected"
    assert (await client.get(f"/v1/partner-applications/{app_id}")).json()["status"] == "rejected"


async def test_concurrent_approvals_exactly_one_wins(
    client: Any, staff: StaffFactory, sessions: async_sessionmaker[AsyncSession]
) -> None:
    _, public = keypair()
    app_id = (await client.post("/v1/partner-applications", json=application_body(public))).json()[
        "id"
    ]
    maker = await staff.token("maker", "ops_maker")
    await client.post(
        f"/admin/v1/partner-applications/{app_id}/review",
        json={"recommendation": "approve"},
        headers=maker,
    )
    c1 = await staff.token("checker1", "ops_checker")
    c2 = await staff.token("checker2", "ops_checker")
    results = await asyncio.gather(
        client.post(f"/admin/v1/partner-applications/{app_id}/approve", json={}, headers=c1),
        client.post(f"/admin/v1/partner-applications/{app_id}/approve", json={}, headers=c2),
    )
    assert sorted(r.status_code for r in results) == [200, 409]
    assert [r.json()["code"] for r in results if r.status_code == 409] == ["state_conflict"]
    async with sessions() as s:
        from gateway.partners.models import Partner  # noqa: PLC0415

        assert await s.scalar(sa.select(sa.func.count()).select_from(Partner)) == 1


async def test_suspend_reactivate_terminate_and_rotate_secret(
    client: Any, staff: StaffFactory
) -> None:
    partner = await onboard(client, staff)
    await partner.fetch_token()
    checker = await staff.token("boss", "ops_checker")
    base = f"/admin/v1/partners/{partner.partner_id}"

    rotated = (await client.post(f"{base}/rotate-secret", headers=checker)).json()
    old_secret, partner.client_secret = partner.client_secret, rotated["client_secret"]
    assert old_secret != partner.client_secret
    await partner.fetch_token()

    assert (
        await client.post(f"{base}/suspend", json={"reason": "review"}, headers=checker)
    ).json()["status"] == "suspended"
    suspended_call = await partner.call("GET", "/v1/partners/me")
    assert suspended_call.status_code == 403
    assert suspended_call.json()["code"] == "partner_suspended"
    token = await client.post(
        "/v1/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(partner.client_id, partner.client_secret),
    )
    assert token.status_code == 401
    assert token.json()["error"] == "invalid_client"
    assert (
        await client.post(f"{base}/suspend", json={"reason": "again"}, headers=checker)
    ).status_code == 409

    assert (await client.post(f"{base}/reactivate", headers=checker)).json()["status"] == "active"
    assert (await partner.call("GET", "/v1/partners/me")).status_code == 200

    assert (
        await client.post(f"{base}/terminate", json={"reason": "fraud"}, headers=checker)
    ).json()["status"] == "terminated"
    assert (await partner.call("GET", "/v1/partners/me")).status_code == 401
    assert (await client.post(f"{base}/reactivate", headers=checker)).status_code == 409
    assert (await client.post(f"{base}/rotate-secret", headers=checker)).status_code == 409
