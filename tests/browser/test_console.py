"""The console in a real browser against a real server: the four-eyes path and CSRF refusal.

Screenshots of the main pages are written on every run (``GATEWAY_SCREENSHOTS`` says where).
"""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.async_api import Browser, Page, expect

from gateway.console.pages import HTMX_DIST
from tests.browser.conftest import SCREENSHOTS
from tests.e2e.conftest import LiveServer
from tests.factories import keypair
from tests.partners.support import application_body

PASSWORD = "browser-long-password"
DESKTOP = {"width": 1280, "height": 800}
TABLET = {"width": 768, "height": 1024}

pytestmark = pytest.mark.slow


def _add_user(server: LiveServer, name: str, *roles: str) -> None:
    server.cli("users", "add", name, *(f"--role={role}" for role in roles), "--password", PASSWORD)


async def _apply(server: LiveServer, legal_name: str) -> str:
    _, public = keypair()
    async with httpx.AsyncClient(base_url=server.url) as http:
        resp = await http.post(
            "/v1/partner-applications", json=application_body(public, legal_name=legal_name)
        )
    resp.raise_for_status()
    return str(resp.json()["id"])


async def _sign_in(page: Page, server: LiveServer, username: str) -> None:
    await page.goto(f"{server.url}/console/")
    await expect(page).to_have_url(re.compile(r"/console/login\?next="))
    await page.get_by_label("用户名").fill(username)
    await page.get_by_label("密码").fill(PASSWORD)
    await page.get_by_role("button", name="登录").click()


async def _shot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=SCREENSHOTS / f"{name}.png", full_page=True)


async def test_review_four_eyes_approve_and_partner_active(
    live_server: LiveServer, browser: Browser
) -> None:
    _add_user(live_server, "lin", "ops_maker", "ops_checker")
    _add_user(live_server, "zhou", "ops_checker", "auditor")
    app_id = await _apply(live_server, "绿城物业服务有限公司")
    await _apply(live_server, "中石化加油站（朝阳）")

    context = await browser.new_context(viewport=DESKTOP, locale="zh-CN")
    page = await context.new_page()
    await page.goto(f"{live_server.url}/console/applications")
    await expect(page.get_by_label("用户名")).to_be_visible()
    await _shot(page, "login")

    # The maker (who also holds the checker role) reviews.
    await _sign_in(page, live_server, "lin")
    await expect(page.get_by_role("heading", name="合作方申请")).to_be_visible()
    if (HTMX_DIST / "htmx.min.js").is_file():
        assert await page.evaluate("typeof window.htmx") == "object"
    await _shot(page, "applications")
    await page.get_by_role("link", name="绿城物业服务有限公司").click()
    await page.get_by_label("批准").check()
    await page.get_by_label("备注").fill("资料齐全，建议批准")
    await page.get_by_role("button", name="提交审核").click()

    # …and is shown, then refused, the decision on their own review.
    approve = page.get_by_role("button", name="批准并签发凭证")
    await expect(approve).to_be_disabled()
    await expect(page.locator("#four-eyes")).to_contain_text("双人复核")
    await _shot(page, "application-four-eyes")
    await page.evaluate("document.querySelectorAll('fieldset').forEach(f => f.disabled = false)")
    await page.get_by_label("备注").fill("自己批准")
    await approve.click()
    await expect(page.get_by_role("heading", name="操作未能完成")).to_be_visible()
    await expect(page.locator("body")).to_contain_text("four_eyes_violation")
    await _shot(page, "four-eyes-refused")
    await page.get_by_role("button", name="退出登录").click()

    # A different checker filters the queue to reviewed applications and approves.
    await _sign_in(page, live_server, "zhou")
    await page.get_by_label("状态").select_option("reviewed")
    await page.get_by_role("button", name="筛选").click()
    await expect(page).to_have_url(f"{live_server.url}/console/applications?status=reviewed")
    await expect(page.get_by_role("link", name="中石化加油站（朝阳）")).to_have_count(0)
    await page.get_by_role("link", name="绿城物业服务有限公司").click()
    await expect(page.locator("body")).to_contain_text("lin")
    await _shot(page, "application-detail")
    await page.get_by_role("button", name="批准并签发凭证").click()
    await expect(page.get_by_role("heading", name="凭证已签发")).to_be_visible()
    await page.screenshot(
        path=SCREENSHOTS / "credentials.png", full_page=True, mask=[page.locator(".secret")]
    )

    await page.get_by_role("navigation").get_by_role("link", name="合作方", exact=True).click()
    row = page.get_by_role("row", name="绿城物业服务有限公司")
    await expect(row).to_contain_text("正常")
    await _shot(page, "partners")
    await row.get_by_role("link").click()
    await expect(page.locator("h1")).to_contain_text("正常")
    await _shot(page, "partner-detail")

    await page.get_by_role("link", name="审计日志").click()
    await page.get_by_label("对象编号").fill(app_id)
    await page.get_by_role("button", name="筛选").click()
    await expect(page.locator("#results")).to_contain_text("partner_application.approved")
    await expect(page.locator("#results")).to_contain_text("staff:zhou")
    await _shot(page, "audit")

    await page.get_by_role("button", name="English").click()
    await expect(page.get_by_role("heading", name="Audit log")).to_be_visible()
    await page.get_by_role("link", name="Partner applications").click()
    await _shot(page, "applications-en")
    await context.close()

    tablet = await browser.new_context(viewport=TABLET, locale="zh-CN")
    page = await tablet.new_page()
    await _sign_in(page, live_server, "zhou")
    await page.goto(f"{live_server.url}/console/applications/{app_id}")
    await _shot(page, "application-tablet")
    await tablet.close()


async def test_a_form_without_its_csrf_token_is_refused(
    live_server: LiveServer, browser: Browser
) -> None:
    _add_user(live_server, "lin", "ops_maker")
    app_id = await _apply(live_server, "校园一卡通服务中心")
    context = await browser.new_context(viewport=DESKTOP, locale="zh-CN")
    page = await context.new_page()
    await _sign_in(page, live_server, "lin")
    await page.goto(f"{live_server.url}/console/applications/{app_id}")
    await page.evaluate("document.querySelectorAll('[name=_csrf_token]').forEach(e => e.remove())")
    await page.get_by_label("拒绝").check()
    await page.get_by_role("button", name="提交审核").click()
    await expect(page.locator("body")).to_contain_text("安全令牌")
    await _shot(page, "csrf-refused")
    async with httpx.AsyncClient(base_url=live_server.url) as http:
        status = await http.get(f"/v1/partner-applications/{app_id}")
    assert status.json()["status"] == "submitted"
    await context.close()


async def test_risk_queue_and_channel_dashboard_open(
    live_server: LiveServer, browser: Browser
) -> None:
    _add_user(live_server, "wu", "risk_analyst", "channel_manager")
    context = await browser.new_context(viewport=DESKTOP, locale="zh-CN")
    page = await context.new_page()
    await _sign_in(page, live_server, "wu")
    await page.get_by_role("navigation").get_by_role("link", name="风险案件").click()
    await expect(page.get_by_role("heading", name="风险案件")).to_be_visible()
    await page.get_by_label("状态").select_option("open")
    await expect(page).to_have_url(re.compile(r"/console/risk/cases\?status=open"))
    await page.get_by_role("button", name="领取下一个案件").click()
    await expect(page.get_by_role("status")).to_contain_text("没有待领取的未分配案件")
    await _shot(page, "risk-cases")

    await page.get_by_role("navigation").get_by_role("link", name="渠道看板").click()
    await expect(page.get_by_role("heading", name="渠道漏斗")).to_be_visible()
    await page.get_by_label("分组").select_option("sub_channel")
    await expect(page).to_have_url(re.compile(r"/console/channels\?group_by=sub_channel"))
    await _shot(page, "channels")
    await context.close()
