"""Staff sign-in, throttling and role guards."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway import audit
from tests.conftest import TEST_PASSWORD, StaffFactory


async def test_sign_in_returns_token_and_roles(client: Any, staff: StaffFactory) -> None:
    await staff.create("ops1", "ops_maker", "ops_checker")
    resp = await client.post(
        "/admin/v1/sessions", json={"username": "ops1", "password": TEST_PASSWORD}
    )
    assert resp.status_code == 201
    body = resp.json()
    assert body["roles"] == ["ops_checker", "ops_maker"]
    assert body["expires_in"] == 8 * 3600
    assert body["token"].count(".") == 2


async def test_wrong_password_and_unknown_user_answer_identically(
    client: Any, staff: StaffFactory
) -> None:
    await staff.create("ops1", "ops_maker")
    wrong = await client.post(
        "/admin/v1/sessions", json={"username": "ops1", "password": "nope-nope"}
    )
    unknown = await client.post(
        "/admin/v1/sessions", json={"username": "ghost", "password": "nope-nope"}
    )
    for resp in (wrong, unknown):
        assert resp.status_code == 401
        assert resp.json()["code"] == "invalid_credentials"
    assert wrong.json()["detail"] == unknown.json()["detail"]


async def test_repeated_failures_are_throttled(client: Any, staff: StaffFactory) -> None:
    await staff.create("ops1", "ops_maker")
    for _ in range(5):
        resp = await client.post(
            "/admin/v1/sessions", json={"username": "ops1", "password": "guess-guess"}
        )
        assert resp.status_code == 401
    locked = await client.post(
        "/admin/v1/sessions", json={"username": "ops1", "password": TEST_PASSWORD}
    )
    assert locked.status_code == 429
    assert locked.json()["code"] == "rate_limited"
    assert int(locked.headers["retry-after"]) > 0


async def test_audit_log_needs_auditor_role(
    client: Any, staff: StaffFactory, sessions: async_sessionmaker[AsyncSession]
) -> None:
    assert (await client.get("/admin/v1/audit")).status_code == 401
    bad = await client.get("/admin/v1/audit", headers={"Authorization": "Bearer not.a.token"})
    assert bad.status_code == 401
    assert bad.json()["code"] == "invalid_token"
    maker = await staff.token("maker", "ops_maker")
    forbidden = await client.get("/admin/v1/audit", headers=maker)
    assert forbidden.status_code == 403
    assert forbidden.json()["code"] == "role_required"

    auditor = await staff.token("aud", "auditor")
    async with sessions() as s:
        for n in range(3):
            audit.record(
                s,
                actor="staff:x",
                action="partner.suspended",
                subject_type="partner",
                subject_id=f"ptn_{n}",
            )
        await s.commit()
    page = await client.get(
        "/admin/v1/audit", headers=auditor, params={"action": "partner.suspended", "limit": 2}
    )
    assert page.status_code == 200
    body = page.json()
    assert [r["subject"]["id"] for r in body["data"]] == ["ptn_0", "ptn_1"]
    rest = await client.get(
        "/admin/v1/audit",
        headers=auditor,
        params={"action": "partner.suspended", "cursor": body["next_cursor"]},
    )
    assert [r["subject"]["id"] for r in rest.json()["data"]] == ["ptn_2"]
    assert rest.json()["next_cursor"] is None
    admin = await staff.token("root", "admin")
    assert (await client.get("/admin/v1/audit", headers=admin)).status_code == 200


async def test_audit_records_are_append_only(sessions: async_sessionmaker[AsyncSession]) -> None:
    import pytest  # noqa: PLC0415
    import sqlalchemy as sa  # noqa: PLC0415
    from sqlalchemy.exc import DBAPIError  # noqa: PLC0415

    from gateway.audit.models import AuditRecord  # noqa: PLC0415
    from gateway.audit.service import AuditImmutableError  # noqa: PLC0415

    async with sessions() as s:
        rec = audit.record(s, actor="a", action="b", subject_type="c", subject_id="d")
        await s.commit()
        rec.actor = "someone else"
        with pytest.raises(AuditImmutableError):
            await s.flush()
        await s.rollback()
        with pytest.raises(DBAPIError):
            await s.execute(sa.delete(AuditRecord))
        await s.rollback()


async def test_bad_limit_and_cursor_are_validation_errors(client: Any, staff: StaffFactory) -> None:
    auditor = await staff.token("aud", "auditor")
    too_big = await client.get("/admin/v1/audit", headers=auditor, params={"limit": 501})
    assert too_big.status_code == 422
    assert too_big.json()["errors"][0]["field"] == "limit"
    bad_cursor = await client.get("/admin/v1/audit", headers=auditor, params={"cursor": "!!!"})
    assert bad_cursor.status_code == 422
    not_int = await client.get("/admin/v1/audit", headers=auditor, params={"limit": "many"})
    assert not_int.status_code == 422
