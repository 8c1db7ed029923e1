"""Signing in and out, the session cookie, CSRF and role checks (DESIGN §4 Staff, §12)."""

from __future__ import annotations

from typing import Any

from litestar import Litestar

from gateway.console.session import csrf_config, session_cookie
from gateway.settings import Settings
from tests.conftest import StaffFactory
from tests.console.support import Visitor


async def test_signed_out_visitors_are_sent_to_sign_in(client: Any) -> None:
    resp = await client.get("/console/applications?status=reviewed")
    assert resp.status_code == 303
    assert resp.headers["location"] == (
        "/console/login?next=%2Fconsole%2Fapplications%3Fstatus%3Dreviewed"
    )
    login = await client.get(resp.headers["location"])
    assert login.status_code == 200
    assert '<label for="username">' in login.text
    assert 'name="password" type="password"' in login.text
    assert 'name="next" value="/console/applications?status=reviewed"' in login.text


async def test_sign_in_sets_a_hardened_session_cookie(app: Litestar, staff: StaffFactory) -> None:
    await staff.create("olga", "ops_maker")
    async with Visitor(app) as olga:
        resp = await olga.sign_in("olga")
        assert resp.status_code == 303
        assert resp.headers["location"] == "/console/"
        cookie = next(
            c for c in resp.headers.get_list("set-cookie") if c.startswith("console_session=")
        )
        assert "HttpOnly" in cookie
        assert "samesite=lax" in cookie.lower()
        assert "Path=/console" in cookie
        home = await olga.get("/console/")
        assert home.headers["location"] == "/console/applications"
        page = await olga.get("/console/applications")
        assert page.status_code == 200
        assert "olga" in page.text


async def test_wrong_password_is_refused_on_the_form(app: Litestar, staff: StaffFactory) -> None:
    await staff.create("olga", "ops_maker")
    async with Visitor(app) as visitor:
        resp = await visitor.sign_in("olga", "not the password")
        assert resp.status_code == 401
        assert "用户名或密码错误" in resp.text
        assert "console_session" not in visitor.http.cookies


async def test_cookies_are_secure_outside_plain_http(settings: Settings) -> None:
    assert not session_cookie(settings, "t").secure  # tests run over http://
    https = settings.model_copy(update={"public_url": "https://gateway.bank.example"})
    assert session_cookie(https, "t").secure
    assert csrf_config(https).cookie_secure
    assert csrf_config(https).cookie_httponly


async def test_a_form_without_its_csrf_token_is_refused(app: Litestar, staff: StaffFactory) -> None:
    await staff.create("olga", "ops_maker")
    async with Visitor(app) as olga:
        await olga.get("/console/login")
        refused = await olga.submit(
            "/console/login", csrf=False, username="olga", password="correct horse battery"
        )
        assert refused.status_code == 403
        assert "安全令牌" in refused.text
        forged = await olga.http.post(
            "/console/login",
            data={"username": "olga", "password": "x", "_csrf_token": "0" * 128},
        )
        assert forged.status_code == 403
        assert (await olga.sign_in("olga")).status_code == 303
        logout = await olga.submit("/console/logout", csrf=False)
        assert logout.status_code == 403
        assert (await olga.get("/console/applications")).status_code == 200


async def test_sign_out_ends_the_session(app: Litestar, staff: StaffFactory) -> None:
    await staff.create("olga", "ops_maker")
    async with Visitor(app) as olga:
        await olga.sign_in("olga")
        await olga.get("/console/applications")
        resp = await olga.submit("/console/logout")
        assert resp.headers["location"] == "/console/login"
        assert (await olga.get("/console/applications")).status_code == 303


async def test_next_never_leaves_the_console(app: Litestar, staff: StaffFactory) -> None:
    await staff.create("olga", "ops_maker")
    async with Visitor(app) as olga:
        await olga.get("/console/login")
        for target in ("https://evil.example/", "//evil.example/console", "/admin/v1/audit"):
            resp = await olga.submit(
                "/console/login", username="olga", password="correct horse battery", next=target
            )
            assert resp.headers["location"] == "/console/"


async def test_a_tampered_or_bearer_token_is_not_a_session(
    app: Litestar, client: Any, staff: StaffFactory
) -> None:
    bearer = await staff.token("olga", "ops_maker")
    resp = await client.get("/console/applications", headers=bearer)
    assert resp.status_code == 303
    async with Visitor(app) as olga:
        await olga.sign_in("olga")
        token = olga.http.cookies["console_session"]
        olga.http.cookies.set("console_session", token[:-2] + "xx", path="/console")
        assert (await olga.get("/console/applications")).status_code == 303
        # and the console's cookie is no credential for the API
        api = await olga.http.get("/admin/v1/partner-applications")
        assert api.status_code == 401


async def test_navigation_and_pages_follow_roles(app: Litestar, staff: StaffFactory) -> None:
    await staff.create("aud", "auditor")
    await staff.create("fin", "finance")
    async with Visitor(app) as aud:
        await aud.sign_in("aud")
        page = await aud.get("/console/applications")
        assert 'href="/console/audit"' in page.text
        assert "/approve" not in page.text
        refused = await aud.submit("/console/applications/pap_x/approve", note="")
        assert refused.status_code == 403
        assert "您的角色无权" in refused.text
    async with Visitor(app) as fin:
        await fin.sign_in("fin")
        home = await fin.get("/console/")
        assert (home.status_code, home.headers["location"]) == (303, "/console/settlements")
        settlements = await fin.get("/console/settlements")
        assert 'href="/console/reconciliation"' in settlements.text
        assert 'href="/console/applications"' not in settlements.text
        assert (await fin.get("/console/audit")).status_code == 403


async def test_no_single_sign_on_unless_configured(app: Litestar, client: Any) -> None:
    async with Visitor(app) as visitor:
        login = await visitor.get("/console/login")
        assert 'id="sso"' not in login.text and "/console/login/oidc" not in login.text
        assert (await visitor.get("/console/login/oidc")).status_code == 404
        assert (await visitor.get("/console/login/oidc/callback?code=x&state=y")).status_code == 404
