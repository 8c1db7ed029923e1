"""A partner as a test sees it: apply, get approved, take a token, sign requests."""

from __future__ import annotations

import base64
import json
import random
import uuid
from dataclasses import dataclass, field
from typing import Any

from gateway.auth.signatures import sign_request
from tests.conftest import StaffFactory
from tests.factories import fake_account_no, fake_mobile, fake_uscc, keypair

PUBLIC_URL = "http://127.0.0.1:8000"


def application_body(
    public_jwk: dict[str, Any], rng: random.Random | None = None, **overrides: Any
) -> dict[str, Any]:
    rng = rng or random.Random()
    body: dict[str, Any] = {
        "legal_name": "Test Property Management Co.",
        "uscc": fake_uscc(rng),
        "legal_representative": "王小明",
        "contact": {"name": "李四", "phone": fake_mobile(rng), "email": "ops@example.test"},
        "scenarios": ["community"],
        "cooperation_mode": "customer_referral",
        "settlement_account": {
            "account_name": "Test Property Management Co.",
            "account_no": fake_account_no(rng),
        },
        "jwks": {"keys": [public_jwk]},
        "webhook_url": "http://127.0.0.1:9/hooks",
        "scenario_profile": {},
    }
    body.update(overrides)
    return body


@dataclass
class PartnerHandle:
    client: Any
    partner_id: str
    client_id: str
    client_secret: str
    private_jwk: dict[str, Any]
    token: str = ""
    extra_keys: dict[str, dict[str, Any]] = field(default_factory=dict)

    async def fetch_token(self, scope: str | None = None) -> str:
        basic = base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
        form = {"grant_type": "client_credentials"} | ({"scope": scope} if scope else {})
        resp = await self.client.post(
            "/v1/oauth/token", data=form, headers={"Authorization": f"Basic {basic}"}
        )
        assert resp.status_code == 200, resp.text
        self.token = resp.json()["access_token"]
        return self.token

    def sign(
        self,
        method: str,
        path: str,
        body: bytes = b"",
        headers: dict[str, str] | None = None,
        *,
        key: dict[str, Any] | None = None,
        **sign_args: Any,
    ) -> dict[str, str]:
        key = key or self.private_jwk
        out = {"Authorization": f"Bearer {self.token}", **(headers or {})}
        if body:
            out.setdefault("Content-Type", "application/json")
        out.update(
            sign_request(
                method=method,
                target_uri=PUBLIC_URL + path,
                headers={k.lower(): v for k, v in out.items()},
                body=body,
                private_jwk=key,
                key_id=str(key["kid"]),
                **sign_args,
            )
        )
        return out

    async def call(
        self,
        method: str,
        path: str,
        json_body: Any = None,
        *,
        idempotency_key: str | None = "auto",
        headers: dict[str, str] | None = None,
        content_type: str | None = None,
        **sign_args: Any,
    ) -> Any:
        """Signed request; ``json_body`` may be raw bytes sent as ``content_type`` (uploads)."""
        if not self.token:
            await self.fetch_token()
        if isinstance(json_body, bytes):
            body = json_body
        else:
            body = json.dumps(json_body).encode() if json_body is not None else b""
        extra = dict(headers or {})
        if content_type:
            extra["Content-Type"] = content_type
        if method == "POST" and idempotency_key:
            extra["Idempotency-Key"] = (
                str(uuid.uuid4()) if idempotency_key == "auto" else idempotency_key
            )
        signed = self.sign(method, path, body, extra, **sign_args)
        return await self.client.request(method, path, content=body or None, headers=signed)


async def onboard(
    client: Any, staff: StaffFactory, *, scenarios: list[str] | None = None, **overrides: Any
) -> PartnerHandle:
    """Apply, review (maker) and approve (checker) a partner; returns its credentials."""
    private, public = keypair()
    body = application_body(public, scenarios=scenarios or ["community"], **overrides)
    applied = await client.post("/v1/partner-applications", json=body)
    assert applied.status_code == 201, applied.text
    app_id = applied.json()["id"]
    maker = await staff.token(f"maker-{app_id[-6:]}", "ops_maker")
    checker = await staff.token(f"checker-{app_id[-6:]}", "ops_checker")
    reviewed = await client.post(
        f"/admin/v1/partner-applications/{app_id}/review",
        json={"recommendation": "approve"},
        headers=maker,
    )
    assert reviewed.status_code == 200, reviewed.text
    approved = await client.post(
        f"/admin/v1/partner-applications/{app_id}/approve", json={}, headers=checker
    )
    assert approved.status_code == 200, approved.text
    creds = approved.json()
    return PartnerHandle(
        client, creds["partner_id"], creds["client_id"], creds["client_secret"], private
    )
