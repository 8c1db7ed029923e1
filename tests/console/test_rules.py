"""Working the risk rules in the console: a new rule refused until its CEL is valid, a draft put
in shadow, a backtest over recorded events with its hits, publishing refused to the version's
author (four eyes, visible on the page) and done by a second risk lead; every step is the admin
API's own service, so the rule set and the audit log move the same way; forms need their CSRF
token."""

from __future__ import annotations

import re
from typing import Any

from litestar import Litestar

from tests.conftest import StaffFactory
from tests.console.support import Visitor
from tests.risk.support import NOON, score

RULES = "/console/risk/rules"
FIELDS = {
    "event_type": "transaction",
    "description": "Large payments",
    "severity": "review",
    "weight": "20",
    "subject": "customer",
}


async def _record_payments(sessions: Any) -> None:
    """Three payments scored on 2026-11-20 (China time): two of 300 yuan, one of 50."""
    for n, amount in enumerate((300_00, 50_00, 300_00)):
        await score(
            sessions,
            "transaction",
            kind="payment",
            customer_id=f"cus_bt{n}",
            merchant="m1",
            amount=amount,
            occurred_at=NOON,
        )


def _versions(html: str) -> dict[int, str]:
    rows = re.findall(r'<tr id="version-(\d+)">.*?badge-(\w+)', html, re.S)
    return {int(v): status for v, status in rows}


async def test_draft_shadow_backtest_and_publish_under_four_eyes(
    app: Litestar, client: Any, staff: StaffFactory, sessions: Any
) -> None:
    await _record_payments(sessions)
    await staff.create("ana-rules", "risk_analyst")
    await staff.create("lead-author", "risk_lead")
    await staff.create("lead-second", "risk_lead")
    await staff.create("aud-rules", "auditor")
    async with Visitor(app) as ana, Visitor(app) as author, Visitor(app) as second:
        await ana.sign_in("ana-rules")
        listing = await ana.get(RULES)
        assert 'action="/console/risk/rules"' in listing.text and "新建规则" in listing.text

        # the same validation as the API: the page says why, and keeps what was typed
        bad = await ana.submit(RULES, id="big_payment", expression="event.amount >=", **FIELDS)
        assert bad.status_code == 422
        assert "rule_invalid" in bad.text and "event.amount &gt;=" in bad.text
        unknown = await ana.submit(
            RULES, id="big_payment", expression="features.no_such >= 1", **FIELDS
        )
        assert unknown.status_code == 422 and "rule_unknown_feature" in unknown.text
        made = await ana.submit(
            RULES, id="big_payment", expression="event.amount >= 20000", **FIELDS
        )
        assert made.status_code == 303 and made.headers["location"] == f"{RULES}/big_payment"
        again = await ana.submit(RULES, id="big_payment", expression="true", **FIELDS)
        assert again.status_code == 409 and "rule_exists" in again.text

        page = await ana.get(f"{RULES}/big_payment")
        assert _versions(page.text) == {1: "draft"}
        assert "/publish" not in page.text  # analysts do not publish
        assert (await ana.submit(f"{RULES}/big_payment/publish")).status_code == 403

        # shadow, then a backtest over the recorded day: two of the three payments hit
        assert (await ana.submit(f"{RULES}/big_payment/shadow")).status_code == 303
        page = await ana.get(f"{RULES}/big_payment")
        assert _versions(page.text) == {1: "shadow"} and "/shadow" not in page.text
        tested = await ana.submit(
            f"{RULES}/big_payment/backtest", **{"from": "2026-11-20", "to": "2026-11-20"}
        )
        assert tested.status_code == 200
        assert re.search(r'id="backtest-evaluated">3<', tested.text)
        assert re.search(r'id="backtest-hits">2<', tested.text)
        assert re.search(r'id="backtest-subjects">2<', tested.text)
        assert (
            "cus_bt0" in tested.text and "cus_bt2" in tested.text and "cus_bt1" not in tested.text
        )
        assert "event.amount = 30000" in tested.text
        other_day = await ana.submit(
            f"{RULES}/big_payment/backtest", **{"from": "2026-11-21", "to": "2026-11-22"}
        )
        assert re.search(r'id="backtest-hits">0<', other_day.text)
        backwards = await ana.submit(
            f"{RULES}/big_payment/backtest", **{"from": "2026-11-22", "to": "2026-11-21"}
        )
        assert backwards.status_code == 422

        # a lead writes version 2; as its author they see the four-eyes rule and are refused
        await author.sign_in("lead-author")
        await author.get(f"{RULES}/big_payment")
        drafted = await author.submit(
            f"{RULES}/big_payment/draft",
            expression="event.amount >= 25000",
            description="Large payments",
            severity="block",
            weight="30",
            subject="customer",
        )
        assert drafted.status_code == 303
        own = await author.get(f"{RULES}/big_payment")
        assert _versions(own.text) == {2: "draft", 1: "shadow"}
        assert 'id="four-eyes"' in own.text and "四眼原则" in own.text
        refused = await author.submit(f"{RULES}/big_payment/publish")
        assert refused.status_code == 403
        assert "four_eyes_violation" in refused.text and "四眼原则" in refused.text
        assert _versions(refused.text) == {2: "draft", 1: "shadow"}

        # the second lead sees no such note and publishes version 2
        await second.sign_in("lead-second")
        theirs = await second.get(f"{RULES}/big_payment")
        assert 'id="four-eyes"' not in theirs.text
        assert (await second.submit(f"{RULES}/big_payment/publish")).status_code == 303
        published = await second.get(f"{RULES}/big_payment")
        assert _versions(published.text) == {2: "published", 1: "retired"}
        assert re.search(r'id="in-force">v2<', published.text)
        assert "/publish" not in published.text
        assert (await second.submit(f"{RULES}/big_payment/publish")).status_code == 409

    # the admin API reads the same rule, and the audit log has every step
    lead_api = await staff.token("lead-api", "risk_lead")
    rule = (await client.get("/admin/v1/risk/rules/big_payment", headers=lead_api)).json()
    assert (rule["version"], rule["status"], rule["severity"]) == (2, "published", "block")
    assert rule["author"] == "staff:lead-author"
    assert rule["published_by"] == "staff:lead-second"
    async with Visitor(app) as aud:
        await aud.sign_in("aud-rules")
        page = await aud.get(f"{RULES}/big_payment")
        assert (
            page.status_code == 200 and "/draft" not in page.text and "/backtest" not in page.text
        )
        assert (await aud.submit(f"{RULES}/big_payment/shadow")).status_code == 403
        log = await aud.get("/console/audit?subject_id=big_payment")
        for action in ("risk.rule_drafted", "risk.rule_shadowed", "risk.rule_published"):
            assert action in log.text


async def test_rule_forms_without_their_csrf_token_are_refused(
    app: Litestar, staff: StaffFactory
) -> None:
    await staff.create("ana-rcsrf", "risk_analyst")
    await staff.create("lead-rcsrf", "risk_lead")
    async with Visitor(app) as ana, Visitor(app) as lead:
        await ana.sign_in("ana-rcsrf")
        await ana.get(RULES)
        fields = {"id": "no_token", "expression": "event.amount > 1", **FIELDS}
        assert (await ana.submit(RULES, csrf=False, **fields)).status_code == 403
        assert "no_token" not in (await ana.get(RULES)).text
        assert (await ana.submit(RULES, **fields)).status_code == 303
        for action in ("shadow", "backtest", "draft"):
            refused = await ana.submit(f"{RULES}/no_token/{action}", csrf=False)
            assert refused.status_code == 403 and "csrf_failed" in refused.text
        await lead.sign_in("lead-rcsrf")
        await lead.get(f"{RULES}/no_token")
        assert (await lead.submit(f"{RULES}/no_token/publish", csrf=False)).status_code == 403
        assert _versions((await lead.get(f"{RULES}/no_token")).text) == {1: "draft"}
