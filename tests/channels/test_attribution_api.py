"""Attribution end to end through the partner API: openings, referral codes, an existing
customer through a second partner, a real community payment, partner-reported events, and the
partner's own funnel (isolation)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from litestar import Litestar

from gateway.channels.lifecycle.models import ChannelEvent
from gateway.db import utcnow
from gateway.notifications.models import Event
from tests.channels.support import milestone
from tests.conftest import StaffFactory, run_jobs
from tests.customers.support import people
from tests.partners.support import PartnerHandle, onboard
from tests.scenarios.support import assert_ledger_balanced, fund
from tests.scenarios.test_community import BASE, _bills, _community


async def _open(partner: PartnerHandle, person: dict[str, Any], **extra: Any) -> dict[str, Any]:
    resp = await partner.call("POST", "/v1/customers", {**person, "scenario": "community", **extra})
    assert resp.status_code == 201, resp.text
    return dict(resp.json())


async def test_attribution_referrals_payment_and_partner_funnel(
    client: Any, app: Litestar, staff: StaffFactory, sessions: Any
) -> None:
    a = await onboard(client, staff, webhook_url=None)
    b = await onboard(client, staff, webhook_url=None)
    garden = await _community(a)
    x_person, y_person, z_person = people(710, 3)
    x = await _open(a, x_person, sub_channel=garden)
    assert x["status"] == "opened"
    code = await a.call("GET", f"/v1/channels/customers/{x['id']}/referral-code")
    assert code.status_code == 200, code.text
    assert code.json()["referred"] == 0
    referral_code = code.json()["referral_code"]
    y = await _open(a, y_person, sub_channel=garden, referral_code=referral_code.lower())
    # X again, through B: a touch, not an acquisition (and no referral credit).
    again = await _open(b, x_person, referral_code=referral_code)
    assert again == {**again, "id": x["id"], "status": "existing"}
    z = await _open(b, z_person)

    code = await a.call("GET", f"/v1/channels/customers/{x['id']}/referral-code")
    assert code.json() == {"customer_id": x["id"], "referral_code": referral_code, "referred": 1}
    async with sessions() as s:
        mx, my = await milestone(s, x["id"]), await milestone(s, y["id"])
        assert (mx.partner_id, mx.sub_channel, mx.referred) == (a.partner_id, garden, 1)
        assert (my.referrer_id, my.referral_code != mx.referral_code) == (x["id"], True)

    # X pays a ¥120 property fee: activated and effective, A earns its ¥20 bounty.
    bills = await _bills(a, garden, [x["id"]], 120_00, "2026-11")
    await fund(client, staff, x["id"], 500_00)
    paid = await a.call("POST", f"{BASE}/payments", {"bill_id": bills[0], "customer_id": x["id"]})
    assert paid.status_code == 201, paid.text
    await run_jobs(app)

    funnel = await a.call("GET", "/v1/channels/funnel?group_by=sub_channel")
    assert funnel.status_code == 200, funnel.text
    assert funnel.json()["data"] == [
        {
            "key": garden,
            "opened": 2,
            "activated": 1,
            "effective": 1,
            "retained_30d": 0,
            "retained_90d": 0,
            "referred": 1,
            "flagged": 0,
            "incentive_accrued": 2000,
            "incentive_clawed_back": 0,
            "cost_per_effective": 2000,
        }
    ]
    # B acquired only Z; X's payment through A is not B's, and A's rows are not B's to see.
    theirs = await b.call("GET", "/v1/channels/funnel?group_by=partner")
    assert [(r["key"], r["opened"], r["activated"]) for r in theirs.json()["data"]] == [
        (b.partner_id, 1, 0)
    ]
    csv = await b.call("GET", "/v1/channels/funnel?group_by=partner&format=csv")
    assert csv.text.strip().splitlines()[1].startswith(f"{b.partner_id},1,0,0,")
    foreign = await b.call("GET", f"/v1/channels/customers/{y['id']}/referral-code")
    assert foreign.status_code == 404
    assert (await b.call("GET", f"/v1/channels/customers/{z['id']}/referral-code")).json()[
        "referred"
    ] == 0

    balances = await assert_ledger_balanced(sessions)
    assert balances[f"incentive_payable:{a.partner_id}"] == -2000
    async with sessions() as s:
        moments = (
            await s.scalars(
                sa.select(Event.data).where(
                    Event.partner_id == a.partner_id, Event.type == "customer.moment"
                )
            )
        ).all()
    assert moments == [
        {"moment": "first_transaction", "customer_id": x["id"], "transaction_id": paid.json()["id"]}
    ]


async def test_partner_events_feed_retention(
    client: Any, app: Litestar, staff: StaffFactory, sessions: Any
) -> None:
    a = await onboard(client, staff, webhook_url=None)
    b = await onboard(client, staff, webhook_url=None)
    x, y = people(720, 2)
    x_id = (await _open(a, x))["id"]
    y_id = (await _open(b, y))["id"]
    async with sessions() as s:  # X opened 45 days ago
        await s.execute(
            sa.text(
                "UPDATE channel_milestones SET opened_at = :at WHERE customer_id = :cid"
            ).bindparams(at=utcnow() - timedelta(days=45), cid=x_id)
        )
        await s.commit()
    body = {"type": "app_login", "customer_id": x_id, "external_ref": "login-1"}
    made = await a.call("POST", "/v1/events", body, idempotency_key="ev-1")
    assert made.status_code == 201, made.text
    assert made.json()["id"].startswith("pev_")
    replay = await a.call("POST", "/v1/events", body, idempotency_key="ev-1")
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.json() == made.json()
    dup = await a.call("POST", "/v1/events", body, idempotency_key="ev-2")
    assert (dup.status_code, dup.json()["code"]) == (409, "external_ref_conflict")
    foreign = await a.call("POST", "/v1/events", {"type": "app_login", "customer_id": y_id})
    assert foreign.status_code == 404
    bad = await a.call("POST", "/v1/events", {"type": "App Login!", "customer_id": x_id})
    assert bad.status_code in (400, 422)
    future = (utcnow() + timedelta(hours=1)).isoformat()
    late = await a.call(
        "POST", "/v1/events", {"type": "app_login", "customer_id": x_id, "occurred_at": future}
    )
    assert (late.status_code, late.json()["code"]) == (422, "timestamp_in_future")
    async with sessions() as s:
        mx = await milestone(s, x_id)
        # A login is retention, not activation.
        assert (mx.retained_30d, mx.retained_90d, mx.activated_at) == (True, False, None)
        count = await s.scalar(sa.select(sa.func.count()).select_from(ChannelEvent))
    assert count == 1
