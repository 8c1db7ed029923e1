"""The console in a real browser against a real server: the four-eyes paths (an application, a
risk rule), CSRF refusal, and the channel dashboard's charts showing the reports' numbers.

Screenshots of the main pages are written on every run (``GATEWAY_SCREENSHOTS`` says where).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from playwright.async_api import Browser, Page, expect
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine
from sqlmodel import col

import gateway.channels.lifecycle.jobs  # noqa: F401  (its mapper events write the milestones)
from gateway.channels.lifecycle.models import ChannelMilestone
from gateway.console.pages import HTMX_DIST
from tests.browser.conftest import SCREENSHOTS
from tests.channels.support import seed_customer
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


async def test_a_rule_is_drafted_refused_to_its_author_and_published_by_a_second_lead(
    live_server: LiveServer, browser: Browser
) -> None:
    _add_user(live_server, "qian", "risk_lead")
    _add_user(live_server, "sun", "risk_lead")
    context = await browser.new_context(viewport=DESKTOP, locale="zh-CN")
    page = await context.new_page()
    await _sign_in(page, live_server, "qian")
    await page.get_by_role("navigation").get_by_role("link", name="风险规则").click()
    await expect(page.get_by_role("heading", name="风险规则", exact=True)).to_be_visible()
    await _shot(page, "rules")
    await page.get_by_text("新建规则").click()
    await page.get_by_label("规则编号").fill("large_payment")
    await page.get_by_label("事件类型").select_option("transaction")
    await page.get_by_label("CEL 表达式").fill("event.amount >=")
    await page.get_by_label("说明").fill("单笔五千元以上的支付")
    await page.get_by_label("对象").select_option("customer")
    await page.get_by_role("button", name="保存为草稿").click()
    await expect(page.get_by_role("alert")).to_contain_text("rule_invalid")
    await _shot(page, "rule-invalid")
    await page.get_by_label("CEL 表达式").fill("event.amount >= 500000")
    await page.get_by_role("button", name="保存为草稿").click()
    await expect(page).to_have_url(re.compile(r"/console/risk/rules/large_payment$"))
    await page.get_by_role("button", name="以影子模式运行").click()
    await expect(page.locator("#version-1")).to_contain_text("影子运行")
    # the author sees why they cannot publish, and the button is disabled
    await expect(page.locator("#four-eyes")).to_contain_text("四眼原则")
    await expect(page.get_by_role("button", name="发布第 1 版")).to_be_disabled()
    await page.get_by_role("button", name="回放第 1 版").click()
    await expect(page.locator("#backtest-hits")).to_have_text("0")
    await _shot(page, "rule-four-eyes")
    await context.close()

    context = await browser.new_context(viewport=DESKTOP, locale="zh-CN")
    page = await context.new_page()
    await _sign_in(page, live_server, "sun")
    await page.goto(f"{live_server.url}/console/risk/rules/large_payment")
    await expect(page.locator("#four-eyes")).to_have_count(0)
    await page.get_by_role("button", name="发布第 1 版").click()
    await expect(page.locator("#version-1")).to_contain_text("已发布")
    await expect(page.locator("#in-force")).to_have_text("v1")
    await expect(page.locator("#version-1")).to_contain_text("staff:sun")
    await _shot(page, "rule-published")
    await context.close()


D = timedelta(days=1)
OCT = datetime(2026, 10, 5, 2, 0, tzinfo=UTC)  # a Monday, 10:00 in Shanghai
NOV = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)  # a Monday
# (partner, sub-channel, opened at, active the next day): October 5 opened, 3 active;
# November 4 opened, 1 active.
OPENINGS = [
    *[("ptn_north", "s1", OCT, active) for active in (True, True, False)],
    *[("ptn_south", "s2", OCT + D, active) for active in (True, False)],
    ("ptn_north", "s1", NOV, True),
    *[("ptn_south", "s2", NOV + D, False) for _ in range(3)],
]


async def _seed_openings(server: LiveServer) -> None:
    """Customers written straight into the server's database (opening writes their milestone
    rows); the active ones are marked activated and effective the day after, as applying a
    qualifying payment would (tested with the lifecycle service in tests/channels)."""
    engine = create_async_engine(server.env["GATEWAY_DATABASE_URL"])
    try:
        async with async_sessionmaker(engine, expire_on_commit=False)() as s:
            for partner, sub_channel, opened_at, active in OPENINGS:
                customer = await seed_customer(s, partner, opened_at, sub_channel=sub_channel)
                if active:
                    await s.execute(
                        sa.update(ChannelMilestone)
                        .where(col(ChannelMilestone.customer_id) == customer)
                        .values(activated_at=opened_at + D, effective_at=opened_at + D)
                    )
            await s.commit()
    finally:
        await engine.dispose()


async def _cohorts(server: LiveServer, username: str) -> list[dict[str, Any]]:
    """The admin API's monthly cohort report."""
    async with httpx.AsyncClient(base_url=server.url) as http:
        signed = await http.post(
            "/admin/v1/sessions", json={"username": username, "password": PASSWORD}
        )
        headers = {"Authorization": f"Bearer {signed.json()['token']}"}
        report = await http.get("/admin/v1/channels/cohorts?period=month", headers=headers)
    rows: list[dict[str, Any]] = report.json()["data"]
    return rows


async def _data(page: Page, selector: str, *names: str) -> list[tuple[str, ...]]:
    """The ``data-*`` attributes of the chart's marks, as the browser rendered them."""
    found = await page.eval_on_selector_all(
        selector, "(els, names) => els.map(e => names.map(n => e.getAttribute(n) || ''))", names
    )
    return [tuple(row) for row in found]


async def test_channel_dashboard_charts_show_the_reports_numbers(
    live_server: LiveServer, browser: Browser
) -> None:
    _add_user(live_server, "zheng", "channel_manager")
    await _seed_openings(live_server)
    cohorts = await _cohorts(live_server, "zheng")
    assert [(r["cohort"], r["opened"], r["activated"]) for r in cohorts] == [
        ("2026-10", 5, 3),
        ("2026-11", 4, 1),
    ]
    context = await browser.new_context(viewport=DESKTOP, locale="zh-CN")
    page = await context.new_page()
    await _sign_in(page, live_server, "zheng")
    await expect(page.get_by_role("heading", name="渠道漏斗")).to_be_visible()
    heat = page.locator("#cohort-heat-map")
    await expect(heat).to_be_visible()
    cells = await _data(page, "#cohort-heat-map rect", "data-cohort", "data-stage", "data-count")
    assert [c for c in cells if c[1] == "activated"] == [
        ("2026-10", "activated", "3"),
        ("2026-11", "activated", "1"),
    ]
    assert len(cells) == 2 * 4
    await expect(heat).to_contain_text("60.0%")  # 3 of October's 5
    await expect(heat).to_contain_text("25.0%")  # 1 of November's 4
    bars = await _data(page, "#acquisition-chart rect", "data-period", "data-key", "data-value")
    assert sorted(bars) == [
        ("2026-10-05", "ptn_north", "3"),
        ("2026-10-05", "ptn_south", "2"),
        ("2026-11-02", "ptn_north", "1"),
        ("2026-11-02", "ptn_south", "3"),
    ]
    funnel = await _data(page, "#funnel-chart rect", "data-key", "data-stage", "data-value")
    assert ("ptn_north", "opened", "4") in funnel and ("ptn_north", "activated", "3") in funnel
    assert ("ptn_south", "opened", "5") in funnel and ("ptn_south", "activated", "1") in funnel
    await _shot(page, "channel-charts")

    await page.get_by_label("获客统计周期").select_option("month")
    await expect(page).to_have_url(re.compile(r"period=month"))
    await expect(page.locator('#acquisition-chart rect[data-period="2026-11"]')).to_have_count(2)
    async with page.expect_download() as download:
        await page.locator('a[href^="/console/channels/cohorts.csv"]').click()
    path = await (await download.value).path()
    lines = path.read_text(encoding="utf-8-sig").splitlines()
    assert lines[1].startswith("2026-10,5,3,3,")
    await context.close()
