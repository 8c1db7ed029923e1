"""Schemathesis fuzzes the partner and admin APIs through real authentication (DESIGN §3, §14).

Every generated request reaches its handler: partner requests carry a real OAuth2 token and an
RFC 9421 signature, admin requests a staff session token with every role. Each answer must be
no 5xx, documented (status, content type, body and headers), and every error problem+json.
"""

from __future__ import annotations

import asyncio

import httpx

from tests.conftest import StaffFactory
from tests.fuzz.support import fuzz, idempotent, operations
from tests.partners.support import onboard

_TRANSPORT_HEADERS = frozenset({"content-length", "connection", "accept-encoding", "user-agent"})


def _clean(headers: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k.lower() not in _TRANSPORT_HEADERS}


async def test_partner_api_answers_every_generated_request_as_documented(
    client: httpx.AsyncClient, staff: StaffFactory
) -> None:
    partner = await onboard(
        client,
        staff,
        scenarios=["community", "campus", "fuel", "stored_value"],
        scenario_profile={"stored_value": {"industry": "fitness", "issuer_class": "brand"}},
    )
    await partner.fetch_token()

    async def send(method: str, path: str, headers: dict[str, str], body: bytes) -> httpx.Response:
        signed = partner.sign(method, path, body, idempotent(method, _clean(headers)))
        return await client.request(method, path, content=body or None, headers=signed)

    ops = operations(
        ["/v1/", "/.well-known/", "/health", "/ready"], last=["PUT /v1/partners/me/jwks"]
    )
    failures = await asyncio.to_thread(fuzz, ops, send, asyncio.get_running_loop())
    assert not failures, "\n\n".join(failures)


async def test_admin_api_answers_every_generated_request_as_documented(
    client: httpx.AsyncClient, staff: StaffFactory
) -> None:
    token = await staff.token(
        "fuzz-admin",
        "admin",
        "ops_maker",
        "risk_analyst",
        "risk_lead",
        "channel_manager",
        "finance",
        "auditor",
    )

    async def send(method: str, path: str, headers: dict[str, str], body: bytes) -> httpx.Response:
        sent = idempotent(method, _clean(headers)) | token
        return await client.request(method, path, content=body or None, headers=sent)

    failures = await asyncio.to_thread(
        fuzz, operations(["/admin/v1/"]), send, asyncio.get_running_loop()
    )
    assert not failures, "\n\n".join(failures)
