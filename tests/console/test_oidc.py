"""Console single sign-on against a mocked identity provider (respx answers its discovery
document, keys and token endpoint; the ID token is really signed): a linked subject signs in
and is audited; a forged state, a wrong nonce, another audience, an expired token, a foreign
signature and an unlinked subject are all refused; without settings there is no SSO at all."""

from __future__ import annotations

import base64
import hashlib
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import respx
import sqlalchemy as sa
from joserfc import jwt
from joserfc.jwk import RSAKey
from litestar import Litestar

from gateway.audit.models import AuditRecord
from gateway.settings import Settings
from gateway.staff.models import StaffUser
from tests.conftest import StaffFactory
from tests.console.support import Visitor

ISSUER = "https://idp.bank.test/realms/staff"
CLIENT_ID = "partner-gateway-console"
PROVIDER_KEY = RSAKey.generate_key(2048, parameters={"kid": "idp-1"}, private=True)
FOREIGN_KEY = RSAKey.generate_key(2048, parameters={"kid": "idp-1"}, private=True)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "oidc_issuer": ISSUER,
            "oidc_client_id": CLIENT_ID,
            "oidc_client_secret": "console-secret",
        }
    )


class Provider:
    """The identity provider: what it publishes, and the ID token its token endpoint issues for
    the last authorization request (with ``claims`` changed as a test asks)."""

    def __init__(self, mock: respx.MockRouter) -> None:
        self.nonce = ""
        self.challenge = ""
        self.claims: dict[str, Any] = {}
        self.key = PROVIDER_KEY
        self.token_requests: list[dict[str, list[str]]] = []
        mock.get(f"{ISSUER}/.well-known/openid-configuration").respond(
            json={
                "issuer": ISSUER,
                "authorization_endpoint": f"{ISSUER}/protocol/openid-connect/auth",
                "token_endpoint": f"{ISSUER}/protocol/openid-connect/token",
                "jwks_uri": f"{ISSUER}/protocol/openid-connect/certs",
            }
        )
        mock.get(f"{ISSUER}/protocol/openid-connect/certs").respond(
            json={"keys": [PROVIDER_KEY.as_dict(private=False)]}
        )
        mock.post(f"{ISSUER}/protocol/openid-connect/token").mock(side_effect=self.token)

    def token(self, request: httpx.Request) -> httpx.Response:
        form = parse_qs(request.content.decode())
        self.token_requests.append(form)
        verifier = form["code_verifier"][0].encode()
        digest = base64.urlsafe_b64encode(hashlib.sha256(verifier).digest()).rstrip(b"=")
        if form.get("code") != ["code-123"] or digest.decode() != self.challenge:
            return httpx.Response(400, json={"error": "invalid_grant"})
        now = int(time.time())
        claims = {
            "iss": ISSUER,
            "aud": CLIENT_ID,
            "sub": "idp-user-42",
            "iat": now,
            "exp": now + 300,
            "nonce": self.nonce,
        } | self.claims
        claims = {k: v for k, v in claims.items() if v is not None}
        id_token = jwt.encode({"alg": "RS256", "kid": "idp-1"}, claims, self.key)
        return httpx.Response(
            200,
            json={"access_token": "at", "token_type": "Bearer", "id_token": id_token},
        )

    async def start(self, visitor: Visitor, next_page: str = "/console/risk/rules") -> str:
        """Press the SSO button; check the authorization request and return its state."""
        resp = await visitor.get(f"/console/login/oidc?next={next_page}")
        assert resp.status_code == 303, resp.text
        url = urlsplit(resp.headers["location"])
        assert f"{url.scheme}://{url.netloc}{url.path}" == f"{ISSUER}/protocol/openid-connect/auth"
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        assert query["response_type"] == "code" and query["client_id"] == CLIENT_ID
        assert query["scope"] == "openid" and query["code_challenge_method"] == "S256"
        assert query["redirect_uri"] == "http://127.0.0.1:8000/console/login/oidc/callback"
        self.nonce, self.challenge = query["nonce"], query["code_challenge"]
        return query["state"]


async def _link(sessions: Any, username: str, subject: str) -> None:
    async with sessions() as s:
        await s.execute(
            sa.update(StaffUser).where(StaffUser.username == username).values(oidc_subject=subject)
        )
        await s.commit()


async def _audit(sessions: Any, action: str) -> list[AuditRecord]:
    async with sessions() as s:
        return list(
            (await s.scalars(sa.select(AuditRecord).where(AuditRecord.action == action))).all()
        )


async def test_a_linked_subject_signs_in_with_sso(
    app: Litestar, staff: StaffFactory, sessions: Any
) -> None:
    await staff.create("lena-lead", "risk_lead")
    await _link(sessions, "lena-lead", "idp-user-42")
    with respx.mock(assert_all_called=True) as mock:
        idp = Provider(mock)
        async with Visitor(app) as lena:
            login = await lena.get("/console/login")
            assert 'id="sso"' in login.text and "使用单点登录" in login.text
            state = await idp.start(lena)
            done = await lena.get(f"/console/login/oidc/callback?code=code-123&state={state}")
            assert done.status_code == 303, done.text
            assert done.headers["location"] == "/console/risk/rules"
            page = await lena.get("/console/risk/rules")
            assert page.status_code == 200 and "lena-lead" in page.text
    [form] = idp.token_requests
    assert form["grant_type"] == ["authorization_code"]
    [entry] = await _audit(sessions, "staff.signed_in")
    assert entry.actor == "staff:lena-lead"
    assert entry.after == {"method": "oidc", "issuer": ISSUER, "subject": "idp-user-42"}


@pytest.mark.parametrize(
    ("case", "claims"),
    [
        ("bad nonce", {"nonce": "another-browser's-nonce"}),
        ("wrong audience", {"aud": "some-other-client"}),
        ("expired", {"exp": int(time.time()) - 3600, "iat": int(time.time()) - 7200}),
        ("no subject", {"sub": None}),
        ("other issuer", {"iss": "https://idp.elsewhere.test"}),
    ],
)
async def test_an_id_token_that_fails_validation_signs_nobody_in(
    app: Litestar, staff: StaffFactory, sessions: Any, case: str, claims: dict[str, Any]
) -> None:
    await staff.create("lena-bad", "risk_lead")
    await _link(sessions, "lena-bad", "idp-user-42")
    with respx.mock() as mock:
        idp = Provider(mock)
        idp.claims = claims
        async with Visitor(app) as lena:
            state = await idp.start(lena)
            refused = await lena.get(f"/console/login/oidc/callback?code=code-123&state={state}")
            assert refused.status_code == 400, case
            assert "单点登录未能完成" in refused.text
            assert "console_session=" not in refused.headers.get("set-cookie", "")
            assert (await lena.get("/console/risk/rules")).status_code == 303  # still signed out
    assert await _audit(sessions, "staff.signed_in") == []


async def test_forged_state_and_foreign_signature_are_refused(
    app: Litestar, staff: StaffFactory, sessions: Any
) -> None:
    await staff.create("lena-forged", "risk_lead")
    await _link(sessions, "lena-forged", "idp-user-42")
    with respx.mock() as mock:
        idp = Provider(mock)
        async with Visitor(app) as lena, Visitor(app) as stranger:
            state = await idp.start(lena)
            forged = await lena.get("/console/login/oidc/callback?code=code-123&state=forged")
            assert forged.status_code == 400 and idp.token_requests == []  # no code exchanged
            # another browser replays the answer meant for this one: it has no flow cookie
            replay = await stranger.get(f"/console/login/oidc/callback?code=code-123&state={state}")
            assert replay.status_code == 400 and idp.token_requests == []

            idp.key = FOREIGN_KEY  # signed by someone else with the provider's key id
            state = await idp.start(lena)
            foreign = await lena.get(f"/console/login/oidc/callback?code=code-123&state={state}")
            assert foreign.status_code == 400
            denied = await lena.get(
                f"/console/login/oidc/callback?error=access_denied&state={state}"
            )
            assert denied.status_code == 400
    assert await _audit(sessions, "staff.signed_in") == []


async def test_an_unlinked_subject_is_refused_and_audited(
    app: Litestar, staff: StaffFactory, sessions: Any
) -> None:
    await staff.create("lena-linked", "risk_lead")
    await _link(sessions, "lena-linked", "idp-user-42")
    with respx.mock() as mock:
        idp = Provider(mock)
        idp.claims = {"sub": "idp-user-99"}
        async with Visitor(app) as someone:
            state = await idp.start(someone)
            refused = await someone.get(f"/console/login/oidc/callback?code=code-123&state={state}")
            assert refused.status_code == 403
            assert "未关联到控制台账户" in refused.text
            assert (await someone.get("/console/risk/rules")).status_code == 303
    [entry] = await _audit(sessions, "staff.sign_in_refused")
    assert (entry.actor, entry.subject_id) == ("oidc:idp-user-99", "idp-user-99")
    assert await _audit(sessions, "staff.signed_in") == []
