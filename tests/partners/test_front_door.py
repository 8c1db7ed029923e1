"""The partner API's front door: signatures, idempotency, rate limits, key rotation, isolation."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

import pytest
import sqlalchemy as sa
from litestar import Litestar, post
from litestar.params import JSONBody
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway import audit
from gateway.app import create_app
from gateway.audit.models import AuditRecord
from gateway.auth.front_door import partner_router
from gateway.deps import CurrentPartner, DbSession
from gateway.errors import BusinessRuleViolation
from gateway.partners.models import Partner
from gateway.partners.ownership import owned
from gateway.schemas import Strict
from gateway.settings import Settings
from tests.conftest import StaffFactory, serve_in_process
from tests.factories import keypair
from tests.partners.support import onboard

PUBLIC_V1 = {
    "/v1/partner-applications",
    "/v1/partner-applications/{application_id:str}",
    "/v1/oauth/token",
}


class Order(Strict):
    amount: int
    slow: bool = False
    fail: bool = False


@post("/orders", opt={"scope": "accounts:write"})
async def create_order(
    data: JSONBody[Order], partner: CurrentPartner, db_session: DbSession
) -> dict[str, Any]:
    """A stand-in partner write with an observable effect (an audit row)."""
    if data.slow:
        await asyncio.sleep(0.3)
    rec = audit.record(
        db_session, actor=f"partner:{partner.id}", action="order", subject_type="o", subject_id="x"
    )
    if data.fail:
        raise BusinessRuleViolation("no", code="limit_exceeded")
    return {"order": rec.id, "amount": data.amount}


@pytest.fixture
async def api(settings: Settings, sessions: async_sessionmaker[AsyncSession]) -> Any:
    app: Litestar = create_app(settings)
    app.register(partner_router("/v1/test", [create_order]))
    async with serve_in_process(app) as c:
        yield c


async def _orders(sessions: async_sessionmaker[AsyncSession]) -> int:
    async with sessions() as s:
        return int(
            await s.scalar(sa.select(sa.func.count()).where(AuditRecord.action == "order")) or 0
        )


async def test_signed_get_me(client: Any, staff: StaffFactory) -> None:
    partner = await onboard(client, staff)
    resp = await partner.call("GET", "/v1/partners/me")
    assert resp.status_code == 200, resp.text
    me = resp.json()
    assert me["id"] == partner.partner_id
    assert me["keys"] == [
        {"kid": partner.private_jwk["kid"], "status": "active", "retire_after": None}
    ]
    assert me["settlement_account"]["account_no"].count("*") >= 5


async def test_every_rejection_has_its_code(client: Any, staff: StaffFactory) -> None:
    partner = await onboard(client, staff)
    other = await onboard(client, staff)
    token = await partner.fetch_token()

    unsigned = await client.get("/v1/partners/me", headers={"Authorization": f"Bearer {token}"})
    assert unsigned.json()["code"] == "signature_missing"
    no_token = await client.get("/v1/partners/me")
    assert (no_token.status_code, no_token.json()["code"]) == (401, "token_missing")

    stranger, _ = keypair()
    cases = {
        "signature_key_unknown": partner.sign("GET", "/v1/partners/me", key=stranger),
        "signature_expired": partner.sign("GET", "/v1/partners/me", created=int(time.time()) - 310),
    }
    cases["signature_key_unknown_other_partner"] = partner.sign(
        "GET", "/v1/partners/me", key=other.private_jwk
    )
    for code, headers in cases.items():
        resp = await client.get("/v1/partners/me", headers=headers)
        assert resp.status_code == 401, (code, resp.text)
        assert resp.json()["code"] == code.removesuffix("_other_partner")

    future = partner.sign("GET", "/v1/partners/me", created=int(time.time()) + 310)
    assert (await client.get("/v1/partners/me", headers=future)).json()[
        "code"
    ] == "signature_expired"

    signed = partner.sign("GET", "/v1/partners/me")
    assert (await client.get("/v1/partners/me", headers=signed)).status_code == 200
    replay = await client.get("/v1/partners/me", headers=signed)
    assert (replay.status_code, replay.json()["code"]) == (401, "signature_replayed")

    other_path = partner.sign("GET", "/v1/partners/me?x=1")
    assert (await client.get("/v1/partners/me", headers=other_path)).json()[
        "code"
    ] == "invalid_signature"


async def test_body_altered_after_signing(client: Any, staff: StaffFactory) -> None:
    partner = await onboard(client, staff)
    await partner.fetch_token()
    body = json.dumps({"webhook_url": "http://127.0.0.1:9/a"}).encode()
    headers = partner.sign("PUT", "/v1/partners/me/webhook", body)
    tampered = body.replace(b"/a", b"/b")
    resp = await client.put("/v1/partners/me/webhook", content=tampered, headers=headers)
    assert (resp.status_code, resp.json()["code"]) == (401, "invalid_signature")
    fresh = partner.sign("PUT", "/v1/partners/me/webhook", body)
    assert (
        await client.put("/v1/partners/me/webhook", content=body, headers=fresh)
    ).status_code == 200


async def test_idempotent_replay_reuse_and_scope(
    api: Any, staff: StaffFactory, sessions: Any
) -> None:
    partner = await onboard(api, staff)
    first = await partner.call("POST", "/v1/test/orders", {"amount": 100}, idempotency_key="k-1")
    assert first.status_code == 201, first.text
    again = await partner.call("POST", "/v1/test/orders", {"amount": 100}, idempotency_key="k-1")
    assert again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert await _orders(sessions) == 1

    reused = await partner.call("POST", "/v1/test/orders", {"amount": 999}, idempotency_key="k-1")
    assert (reused.status_code, reused.json()["code"]) == (422, "idempotency_key_reused")
    missing = await partner.call("POST", "/v1/test/orders", {"amount": 1}, idempotency_key=None)
    assert (missing.status_code, missing.json()["code"]) == (400, "idempotency_key_missing")

    other = await onboard(api, staff)
    mine = await other.call("POST", "/v1/test/orders", {"amount": 100}, idempotency_key="k-1")
    assert mine.status_code == 201
    assert "idempotent-replayed" not in mine.headers
    assert await _orders(sessions) == 2


async def test_idempotency_in_flight_and_failure_release(
    api: Any, staff: StaffFactory, sessions: Any
) -> None:
    partner = await onboard(api, staff)
    await partner.fetch_token()  # so both calls below go straight to the endpoint
    slow, racing = await asyncio.gather(
        partner.call("POST", "/v1/test/orders", {"amount": 5, "slow": True}, idempotency_key="k-2"),
        _after(
            0.1,
            partner.call(
                "POST", "/v1/test/orders", {"amount": 5, "slow": True}, idempotency_key="k-2"
            ),
        ),
    )
    assert slow.status_code == 201
    assert (racing.status_code, racing.json().get("code")) == (409, "idempotency_key_in_use"), (
        racing.headers,
        racing.text,
    )

    failed = await partner.call(
        "POST", "/v1/test/orders", {"amount": 5, "fail": True}, idempotency_key="k-3"
    )
    assert failed.status_code == 422
    retried = await partner.call(
        "POST", "/v1/test/orders", {"amount": 5, "fail": True}, idempotency_key="k-3"
    )
    assert retried.status_code == 422  # ran again (not replayed, not "in use")
    assert "idempotent-replayed" not in retried.headers
    assert await _orders(sessions) == 1


async def _after(delay: float, coro: Any) -> Any:
    await asyncio.sleep(delay)
    return await coro


async def test_scope_is_enforced(api: Any, staff: StaffFactory) -> None:
    partner = await onboard(api, staff)
    await partner.fetch_token(scope="accounts:read")
    resp = await partner.call("POST", "/v1/test/orders", {"amount": 1})
    assert (resp.status_code, resp.json()["code"]) == (403, "insufficient_scope")


async def test_rate_limit_per_partner(client: Any, staff: StaffFactory, sessions: Any) -> None:
    partner = await onboard(client, staff)
    async with sessions() as s:
        await s.execute(
            sa.update(Partner)
            .where(Partner.id == partner.partner_id)
            .values(rate_limit_burst=3, rate_limit_per_second=0.01)
        )
        await s.commit()
    codes = [(await partner.call("GET", "/v1/partners/me")).status_code for _ in range(3)]
    assert codes == [200, 200, 200]
    limited = await partner.call("GET", "/v1/partners/me")
    assert (limited.status_code, limited.json()["code"]) == (429, "rate_limited")
    assert limited.headers["ratelimit-limit"] == "3"
    assert limited.headers["ratelimit-remaining"] == "0"
    assert int(limited.headers["retry-after"]) >= 1
    other = await onboard(client, staff)
    assert (await other.call("GET", "/v1/partners/me")).status_code == 200


async def test_key_rotation_keeps_old_key_until_new_one_is_used(
    client: Any, staff: StaffFactory
) -> None:
    partner = await onboard(client, staff)
    old = partner.private_jwk
    new_private, new_public = keypair("p256")
    resp = await partner.call("PUT", "/v1/partners/me/jwks", {"keys": [new_public]})
    assert resp.status_code == 200, resp.text
    statuses = {k["kid"]: k["status"] for k in resp.json()["keys"]}
    assert statuses == {old["kid"]: "retiring", new_public["kid"]: "active"}

    assert (await partner.call("GET", "/v1/partners/me", key=old)).status_code == 200
    assert (await partner.call("GET", "/v1/partners/me", key=new_private)).status_code == 200
    after = await partner.call("GET", "/v1/partners/me", key=old)
    assert after.json()["code"] == "signature_key_unknown"
    bad = await partner.call("PUT", "/v1/partners/me/jwks", {"keys": [old]}, key=new_private)
    assert bad.json()["code"] == "jwks_invalid"  # private material


async def test_webhook_update_passes_ssrf_guard(client: Any, staff: StaffFactory) -> None:
    partner = await onboard(client, staff)
    blocked = await partner.call(
        "PUT", "/v1/partners/me/webhook", {"webhook_url": "http://192.168.1.10/x"}
    )
    assert (blocked.status_code, blocked.json()["code"]) == (422, "url_not_allowed")
    ok = await partner.call(
        "PUT", "/v1/partners/me/webhook", {"webhook_url": "http://localhost:8081/hook"}
    )
    assert ok.json()["webhook_url"] == "http://localhost:8081/hook"


async def test_every_partner_route_is_behind_the_front_door(app: Litestar, client: Any) -> None:
    """New /v1 routes are covered automatically: each must refuse an unauthenticated call."""
    checked = 0
    for route in app.routes:
        if not route.path.startswith("/v1/") or route.path in PUBLIC_V1:
            continue
        path = route.path.replace("{", "").replace("}", "").replace(":str", "")
        for method in sorted(getattr(route, "methods", set())):
            if method in {"HEAD", "OPTIONS"}:
                continue
            resp = await client.request(method, path)
            assert resp.status_code == 401, (method, route.path, resp.text)
            checked += 1
    assert checked >= 3


async def test_owned_hides_foreign_objects(client: Any, staff: StaffFactory, sessions: Any) -> None:
    mine = await onboard(client, staff)
    theirs = await onboard(client, staff)
    async with sessions() as s:
        from gateway.partners.models import PartnerKey  # noqa: PLC0415

        key = await s.scalar(
            sa.select(PartnerKey).where(PartnerKey.partner_id == theirs.partner_id)
        )
        assert key is not None
        assert (await owned(s, PartnerKey, key.id, theirs.partner_id)).id == key.id
        for partner_id, object_id in (
            (mine.partner_id, key.id),
            (mine.partner_id, "key_" + uuid.uuid4().hex),
        ):
            with pytest.raises(Exception, match="No such") as err:
                await owned(s, PartnerKey, object_id, partner_id)
            assert getattr(err.value, "status", None) == 404


def test_public_routes_are_listed(app: Litestar) -> None:
    paths = {r.path for r in app.routes}
    assert paths >= PUBLIC_V1
