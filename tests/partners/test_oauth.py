"""The token endpoint: client_secret_basic and private_key_jwt on Authlib (DESIGN §4)."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
from authlib.integrations.httpx_client import AsyncOAuth2Client
from authlib.oauth2.rfc7523 import PrivateKeyJWT
from joserfc import jwt
from joserfc.jwk import KeySet, OKPKey
from litestar import Litestar

from tests.conftest import StaffFactory
from tests.partners.support import PUBLIC_URL, onboard

TOKEN_URL = PUBLIC_URL + "/v1/oauth/token"


def _assertion(partner: Any, **overrides: Any) -> str:
    now = int(time.time())
    claims = {
        "iss": partner.client_id,
        "sub": partner.client_id,
        "aud": TOKEN_URL,
        "iat": now,
        "exp": now + 300,
    }
    claims |= {"jti": uuid.uuid4().hex} | overrides
    key = OKPKey.import_key(partner.private_jwk)
    return jwt.encode(
        {"alg": "Ed25519", "kid": partner.private_jwk["kid"]}, claims, key, algorithms=["Ed25519"]
    )


def _assertion_form(assertion: str, **extra: str) -> dict[str, str]:
    return {
        "grant_type": "client_credentials",
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": assertion,
        **extra,
    }


async def test_client_secret_basic_issues_a_verifiable_token(
    client: Any, staff: StaffFactory
) -> None:
    partner = await onboard(client, staff, scenarios=["community", "fuel"])
    resp = await client.post(
        "/v1/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(partner.client_id, partner.client_secret),
    )
    assert resp.status_code == 200
    assert resp.headers["cache-control"] == "no-store"
    body = resp.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 900
    assert set(body["scope"].split()) == {
        "accounts:write",
        "accounts:read",
        "channels:read",
        "settlement:read",
        "webhooks:manage",
        "scenario:community",
        "scenario:fuel",
    }
    jwks = (await client.get("/.well-known/jwks.json")).json()
    claims = jwt.decode(
        body["access_token"], KeySet.import_key_set(jwks), algorithms=["Ed25519"]
    ).claims
    assert claims["sub"] == partner.partner_id
    assert claims["exp"] - claims["iat"] == 900


async def test_scopes_can_be_narrowed_not_widened(client: Any, staff: StaffFactory) -> None:
    partner = await onboard(client, staff)
    auth = (partner.client_id, partner.client_secret)
    narrow = await client.post(
        "/v1/oauth/token",
        data={"grant_type": "client_credentials", "scope": "accounts:read"},
        auth=auth,
    )
    assert narrow.json()["scope"] == "accounts:read"
    wide = await client.post(
        "/v1/oauth/token",
        data={"grant_type": "client_credentials", "scope": "scenario:fuel"},
        auth=auth,
    )
    assert wide.status_code == 400
    assert wide.json()["error"] == "invalid_scope"


async def test_oauth_errors_use_rfc6749_bodies(client: Any, staff: StaffFactory) -> None:
    partner = await onboard(client, staff)
    wrong = await client.post(
        "/v1/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(partner.client_id, "nope"),
    )
    assert wrong.status_code == 401
    assert wrong.json()["error"] == "invalid_client"
    assert "error_description" in wrong.json()
    unknown = await client.post(
        "/v1/oauth/token", data={"grant_type": "client_credentials"}, auth=("cli_nobody", "x")
    )
    assert unknown.status_code == 401
    grant = await client.post(
        "/v1/oauth/token",
        data={"grant_type": "password"},
        auth=(partner.client_id, partner.client_secret),
    )
    assert grant.json()["error"] == "unsupported_grant_type"
    as_json = await client.post("/v1/oauth/token", json={"grant_type": "client_credentials"})
    assert as_json.status_code == 400
    assert as_json.json()["error"] == "invalid_request"


async def test_private_key_jwt_and_single_use_jti(client: Any, staff: StaffFactory) -> None:
    partner = await onboard(client, staff)
    assertion = _assertion(partner)
    first = await client.post("/v1/oauth/token", data=_assertion_form(assertion))
    assert first.status_code == 200, first.text
    replay = await client.post("/v1/oauth/token", data=_assertion_form(assertion))
    assert replay.status_code == 401
    assert replay.json()["error"] == "invalid_client"


async def test_bad_client_assertions_are_invalid_client(client: Any, staff: StaffFactory) -> None:
    partner = await onboard(client, staff)
    now = int(time.time())
    bad = [
        _assertion(partner, exp=now - 120, iat=now - 400),  # expired
        _assertion(partner, exp=now + 7200),  # lives longer than 60 minutes
        _assertion(partner, aud="https://elsewhere.test/token"),
        _assertion(partner, iss="cli_someone_else"),
    ]
    for assertion in bad:
        resp = await client.post("/v1/oauth/token", data=_assertion_form(assertion))
        assert resp.status_code == 401, resp.text
        assert resp.json()["error"] == "invalid_client"
    other = await onboard(client, staff)
    forged = _assertion(other)  # signed by another partner's key, claiming to be `partner`
    forged_claims = _assertion(partner)
    assert forged != forged_claims
    impostor = jwt.encode(
        {"alg": "Ed25519", "kid": other.private_jwk["kid"]},
        {
            "iss": partner.client_id,
            "sub": partner.client_id,
            "aud": TOKEN_URL,
            "exp": now + 60,
            "jti": "x1",
        },
        OKPKey.import_key(other.private_jwk),
        algorithms=["Ed25519"],
    )
    assert (await client.post("/v1/oauth/token", data=_assertion_form(impostor))).status_code == 401


async def test_authlib_httpx_client_gets_a_token(
    client: Any, staff: StaffFactory, app: Litestar
) -> None:
    partner = await onboard(client, staff)
    transport = httpx.ASGITransport(app=app)
    async with AsyncOAuth2Client(
        client_id=partner.client_id,
        client_secret=OKPKey.import_key(partner.private_jwk),
        token_endpoint_auth_method=PrivateKeyJWT(TOKEN_URL, alg="Ed25519"),
        transport=transport,
        base_url=PUBLIC_URL,
    ) as oauth:
        token = await oauth.fetch_token(TOKEN_URL, grant_type="client_credentials")
    assert token["token_type"] == "Bearer"
    assert token["expires_in"] == 900
    async with AsyncOAuth2Client(
        client_id=partner.client_id,
        client_secret=partner.client_secret,
        transport=transport,
        base_url=PUBLIC_URL,
    ) as basic:
        assert (await basic.fetch_token(TOKEN_URL, grant_type="client_credentials"))["access_token"]


async def test_tokens_do_not_cross_between_partner_and_staff_apis(
    client: Any, staff: StaffFactory
) -> None:
    partner = await onboard(client, staff)
    token = await partner.fetch_token()
    admin_call = await client.get(
        "/admin/v1/partners", headers={"Authorization": f"Bearer {token}"}
    )
    assert admin_call.status_code == 401
    staff_headers = await staff.token("root", "admin")
    partner_call = await client.get("/v1/partners/me", headers=staff_headers)
    assert partner_call.status_code == 401
    assert partner_call.json()["code"] == "invalid_token"
