"""The risk team in the console: the queue with its filters, take-next, a case's evidence, a
decision through the form (the hold released, the case closed, the audit row written), the
lead-only action, the rules with their precision; auditors read, others are kept out."""

from __future__ import annotations

import re
from typing import Any

from litestar import Litestar

from gateway.risk import held_transaction_ids
from tests.conftest import StaffFactory
from tests.console.support import Visitor
from tests.partners.support import onboard
from tests.risk.support import publish_rule
from tests.risk.test_integration import _rule
from tests.scenarios.support import fund, open_owners
from tests.scenarios.test_community import BASE, _bills, _community

QUEUE = "/console/risk/cases"


async def _two_held_payments(
    client: Any, app: Litestar, staff: StaffFactory
) -> tuple[list[str], list[str]]:
    """Two owners each pay a bill a published review rule holds: two open cases."""
    partner = await onboard(client, staff, webhook_url=None)
    community_id = await _community(partner)
    owners = await open_owners(partner, app, "community", 2, seed=710, sub_channel=community_id)
    bills = await _bills(partner, community_id, owners, 300_00, "2026-11")
    for owner in owners:
        await fund(client, staff, owner, 2_000_00)
    await publish_rule(client, staff, _rule("fee_over_200", "event.amount >= 20000"), "cr")
    txns = []
    for bill, owner in zip(bills, owners, strict=True):
        paid = await partner.call(
            "POST", f"{BASE}/payments", {"bill_id": bill, "customer_id": owner}
        )
        assert paid.status_code == 201, paid.text
        txns.append(paid.json()["id"])
    return owners, txns


def _case_ids(html: str) -> list[str]:
    return list(dict.fromkeys(re.findall(r'/console/risk/cases/(cas_[A-Za-z0-9]+)"', html)))


async def test_analyst_takes_a_case_and_decides_it_through_the_form(
    app: Litestar, client: Any, staff: StaffFactory, sessions: Any
) -> None:
    owners, txns = await _two_held_payments(client, app, staff)
    await staff.create("ana-console", "risk_analyst")
    await staff.create("lead-console", "risk_lead")
    await staff.create("aud-risk", "auditor")
    await staff.create("chan-risk", "channel_manager")
    async with Visitor(app) as ana, Visitor(app) as lead, Visitor(app) as aud:
        await ana.sign_in("ana-console")
        queue = await ana.get(QUEUE)
        assert queue.status_code == 200
        assert len(_case_ids(queue.text)) == 2 and owners[0] in queue.text
        assert "风险案件" in queue.text and "/console/risk/cases/next" in queue.text

        # filters, as a full page and as the htmx fragment
        none = await ana.get(f"{QUEUE}?status=closed")
        assert _case_ids(none.text) == []
        part = await ana.get(
            f"{QUEUE}?rule=fee_over_200&status=open", headers={"HX-Request": "true"}
        )
        assert "<html" not in part.text and len(_case_ids(part.text)) == 2
        assert _case_ids((await ana.get(f"{QUEUE}?rule=no_such_rule")).text) == []

        # take-next locks the case to the caller and opens it
        taken = await ana.submit(f"{QUEUE}/next")
        assert taken.status_code == 303
        case_path = taken.headers["location"]
        detail = await ana.get(case_path)
        assert re.search(r'id="assignee">staff:ana-console<', detail.text)
        assert "审核中" in detail.text
        assert "event.amount = 30000" in detail.text  # the feature value that fired
        assert any(t in detail.text for t in txns)
        assert 'value="suspend_partner"' not in detail.text  # a lead's action only
        in_review = await ana.get(f"{QUEUE}?status=in_review")
        assert _case_ids(in_review.text) == [case_path.rsplit("/", 1)[1]]

        # the service refuses suspend_partner to an analyst, whatever the form says
        refused = await ana.submit(
            f"{case_path}/decide", outcome="fraud", actions="suspend_partner"
        )
        assert refused.status_code == 403
        assert f"{case_path}/decide" in (await ana.get(case_path)).text  # still undecided

        decided = await ana.submit(
            f"{case_path}/decide", outcome="not_fraud", note="regular owner", actions="release_hold"
        )
        assert decided.status_code == 303
        closed = await ana.get(case_path)
        assert re.search(r'id="outcome">非欺诈<', closed.text)
        assert "没有被冻结的交易" in closed.text and "regular owner" in closed.text
        assert f"{case_path}/decide" not in closed.text
        async with sessions() as s:
            assert len(await held_transaction_ids(s)) == 1  # only the other case's hold is left

        # the lead sees suspend_partner, assigns the other case to themself and decides it
        await lead.sign_in("lead-console")
        [other] = _case_ids((await lead.get(f"{QUEUE}?status=open")).text)
        page = await lead.get(f"{QUEUE}/{other}")
        assert 'value="suspend_partner"' in page.text
        assert (await lead.submit(f"{QUEUE}/{other}/assign")).status_code == 303
        assert "staff:lead-console" in (await lead.get(f"{QUEUE}/{other}")).text
        done = await lead.submit(
            f"{QUEUE}/{other}/decide", outcome="fraud", actions="hold_settlement"
        )
        assert done.status_code == 303
        empty = await lead.submit(f"{QUEUE}/next")
        assert empty.headers["location"] == f"{QUEUE}?empty=1"

        # the rules page shows the figures the admin API gives: 2 closed, 1 fraud, 50%
        rules = await lead.get("/console/risk/rules")
        row = rules.text.split('id="rule-fee_over_200"')[1].split("</tr>")[0]
        cells = re.findall(r'<td class="num">([^<]*)</td>', row)
        assert cells == ["2", "0", "2", "2", "1", "50.0%"]

        # auditors read but cannot act; the decisions are in the audit log
        await aud.sign_in("aud-risk")
        read_only = await aud.get(f"{QUEUE}/{other}")
        assert read_only.status_code == 200 and "/decide" not in read_only.text
        assert "/console/risk/cases/next" not in (await aud.get(QUEUE)).text
        assert (await aud.submit(f"{QUEUE}/next")).status_code == 403
        assert (await aud.submit(f"{QUEUE}/{other}/assign")).status_code == 403
        log = await aud.get("/console/audit?action=risk.case_decided")
        assert log.text.count("risk.case_decided") >= 2

    async with Visitor(app) as chan:
        await chan.sign_in("chan-risk")
        assert (await chan.get(QUEUE)).status_code == 403
        assert (await chan.get("/console/risk/rules")).status_code == 403
        assert (await chan.submit(f"{QUEUE}/next")).status_code == 403


async def test_a_decision_without_its_csrf_token_is_refused(
    app: Litestar, client: Any, staff: StaffFactory, sessions: Any
) -> None:
    await _two_held_payments(client, app, staff)
    await staff.create("ana-csrf", "risk_analyst")
    async with Visitor(app) as ana:
        await ana.sign_in("ana-csrf")
        [first, _] = _case_ids((await ana.get(QUEUE)).text)
        refused = await ana.submit(f"{QUEUE}/{first}/decide", csrf=False, outcome="not_fraud")
        assert refused.status_code == 403
        bad = await ana.submit(f"{QUEUE}/{first}/decide", outcome="maybe")
        assert bad.status_code == 422
        assert "审核中" not in (await ana.get(f"{QUEUE}/{first}")).text
