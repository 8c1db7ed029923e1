"""A scripted population with known answers: funnel, cohorts, conversions and incentives.

Three partners, one per incentive scheme (DESIGN §7):
- A ``customer_referral`` → bounty ¥20: a1 effective and retained 30/90, a2 only activated, a3
  referred by a1 and retained but spent outside its window, a4 nothing, a5 effective then
  clawed back after confirmed fraud;
- B ``most_favored`` → tiered bounty (tiers shrunk to 1 / 2 / more for the test): three effective;
- C ``joint_operation`` → 1% revenue share: c1 effective then spends again (and once after 90
  days), c2/c3 on a campaign whose rule is 7 days and ¥50.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from litestar import Litestar

from gateway.channels.campaigns.models import Campaign
from gateway.channels.incentives import service as incentives
from gateway.channels.lifecycle import service as lifecycle
from gateway.ids import new_id
from tests.channels.support import milestone, seed_customer, seed_txn, snapshot
from tests.conftest import StaffFactory, run_jobs
from tests.partners.support import PartnerHandle, onboard
from tests.scenarios.support import assert_ledger_balanced

T0 = datetime(2026, 6, 1, 2, 0, tzinfo=UTC)  # a Monday, 10:00 in Shanghai
D = timedelta(days=1)


async def _population(app: Litestar, sessions: Any, a: str, b: str, c: str) -> dict[str, str]:
    ids: dict[str, str] = {}
    async with sessions() as s:
        campaign = Campaign(
            id=new_id("cmp"),
            name="Week of welcome",
            scenario="community",
            partner_id=c,
            product_type="payment",
            budget=100_000,
            activation_days=7,
            effective_min_amount=5_000,
            starts_at=T0 - 10 * D,
            ends_at=T0 + 300 * D,
            created_by="test",
        )
        s.add(campaign)
        await s.flush()
        ids["campaign"] = campaign.id
        ids["a1"] = await seed_customer(s, a, T0, sub_channel="c1")
        code = (await milestone(s, ids["a1"])).referral_code
        ids["a2"] = await seed_customer(s, a, T0, sub_channel="c1")
        ids["a3"] = await seed_customer(s, a, T0 + 7 * D, sub_channel="c1", referral_code=code)
        ids["a4"] = await seed_customer(s, a, T0 + 7 * D, sub_channel="c2")
        ids["a5"] = await seed_customer(s, a, T0, sub_channel="c2")
        for n in (1, 2, 3):
            ids[f"b{n}"] = await seed_customer(s, b, T0, sub_channel="s1")
        ids["c1"] = await seed_customer(s, c, T0, sub_channel="m1")
        for n in (2, 3):
            ids[f"c{n}"] = await seed_customer(s, c, T0, sub_channel="m1", campaign=campaign.id)
        script = [
            (a, "a1", 6_000, 1),
            (a, "a1", 5_000, 2),
            (a, "a1", 1_000, 40),
            (a, "a1", 1_000, 70),
            (a, "a2", 3_000, 1),
            (a, "a3", 12_000, 42),  # day 36 after its opening: retained, outside its window
            (a, "a5", 10_000, 3),
            (b, "b1", 10_000, 1),
            (b, "b2", 20_000, 2),
            (b, "b3", 15_000, 3),
            (c, "c1", 10_000, 1),
            (c, "c1", 5_000, 10),
            (c, "c1", 5_000, 100),
            (c, "c2", 5_000, 8),
            (c, "c3", 5_000, 2),
        ]
        for partner, who, amount, day in script:
            ids[f"txn:{who}:{day}"] = await seed_txn(s, partner, ids[who], amount, T0 + day * D)
        # Not succeeded and a refund outside any window: neither changes a milestone.
        await seed_txn(s, a, ids["a4"], 50_000, T0 + 8 * D, status="failed")
        await seed_txn(s, a, ids["a2"], 3_000, T0 + 31 * D, kind="refund")
        await s.commit()
    await run_jobs(app)
    return ids


@pytest.fixture
async def population(
    client: Any, app: Litestar, staff: StaffFactory, sessions: Any, monkeypatch: Any
) -> tuple[dict[str, str], PartnerHandle, PartnerHandle, PartnerHandle]:
    monkeypatch.setattr(incentives, "TIERS", ((1, 2_000), (2, 2_500), (None, 3_000)))
    pa = await onboard(client, staff, cooperation_mode="customer_referral", webhook_url=None)
    pb = await onboard(client, staff, cooperation_mode="most_favored", webhook_url=None)
    pc = await onboard(client, staff, cooperation_mode="joint_operation", webhook_url=None)
    ids = await _population(app, sessions, pa.partner_id, pb.partner_id, pc.partner_id)
    async with sessions() as s:
        assert await incentives.claw_back(s, ids["a5"], "fraud confirmed", at=T0 + 30 * D) == 2000
        await s.commit()
    return ids, pa, pb, pc


def _row(key: str | None, *values: Any) -> dict[str, Any]:
    names = [
        "opened",
        "activated",
        "effective",
        "retained_30d",
        "retained_90d",
        "referred",
        "flagged",
        "incentive_accrued",
        "incentive_clawed_back",
        "cost_per_effective",
    ]
    return {"key": key, **dict(zip(names, values, strict=True))}


async def test_funnel_reports_match_the_script(
    client: Any, staff: StaffFactory, population: Any, sessions: Any
) -> None:
    ids, pa, pb, pc = population
    headers = await staff.token("cm", "channel_manager")
    resp = await client.get("/admin/v1/channels/funnel?group_by=partner", headers=headers)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    expected = {
        pa.partner_id: _row(pa.partner_id, 5, 4, 2, 2, 1, 1, 1, 4000, 2000, 1000),
        pb.partner_id: _row(pb.partner_id, 3, 3, 3, 0, 0, 0, 0, 7500, 0, 2500),
        pc.partner_id: _row(pc.partner_id, 3, 3, 2, 0, 0, 0, 0, 200, 0, 100),
    }
    assert {r["key"]: r for r in body["data"]} == expected
    assert body["group_by"] == "partner"
    balances = await assert_ledger_balanced(sessions)
    for partner, net in ((pa, 2000), (pb, 7500), (pc, 200)):
        assert balances[f"incentive_payable:{partner.partner_id}"] == -net
        assert balances[f"incentive_expense:{partner.partner_id}"] == net

    headers = await staff.token("fin", "finance")
    resp = await client.get("/admin/v1/channels/funnel?group_by=sub_channel", headers=headers)
    rows = {r["key"]: r for r in resp.json()["data"]}
    assert rows["c1"] == _row("c1", 3, 3, 1, 2, 1, 1, 0, 2000, 0, 2000)
    assert rows["c2"] == _row("c2", 2, 1, 1, 0, 0, 0, 1, 2000, 2000, 0)
    assert rows["s1"] == _row("s1", 3, 3, 3, 0, 0, 0, 0, 7500, 0, 2500)
    assert rows["m1"] == _row("m1", 3, 3, 2, 0, 0, 0, 0, 200, 0, 100)

    resp = await client.get("/admin/v1/channels/funnel?group_by=campaign", headers=headers)
    rows = {r["key"]: r for r in resp.json()["data"]}
    assert rows[ids["campaign"]] == _row(ids["campaign"], 2, 2, 1, 0, 0, 0, 0, 50, 0, 50)
    assert rows[None] == _row(None, 9, 8, 6, 2, 1, 1, 1, 11650, 2000, 1608)

    resp = await client.get("/admin/v1/channels/funnel?group_by=scenario", headers=headers)
    assert resp.json()["data"] == [_row("community", 11, 10, 7, 2, 1, 1, 1, 11700, 2000, 1386)]

    headers = await staff.token("aud", "auditor")
    # Only the customers opened in the second week: a3 and a4.
    resp = await client.get(
        "/admin/v1/channels/funnel?group_by=partner&from=2026-06-08&to=2026-06-14",
        headers=headers,
    )
    assert resp.json()["data"] == [_row(pa.partner_id, 2, 1, 0, 1, 0, 0, 0, 0, 0, None)]
    assert resp.json()["from"] == "2026-06-08"

    csv = await client.get(
        "/admin/v1/channels/funnel?group_by=sub_channel&format=csv", headers=headers
    )
    assert csv.status_code == 200
    assert csv.headers["content-type"].startswith("text/csv")
    lines = csv.text.strip().splitlines()
    assert lines[0] == (
        "key,opened,activated,effective,retained_30d,retained_90d,referred,flagged,"
        "incentive_accrued,incentive_clawed_back,cost_per_effective"
    )
    assert "c2,2,1,1,0,0,0,1,2000,2000,0" in lines

    bad = await client.get(
        "/admin/v1/channels/funnel?from=2026-06-09&to=2026-06-01", headers=headers
    )
    assert bad.status_code == 422
    assert bad.json()["code"] == "invalid_date_range"
    wrong = await client.get("/admin/v1/channels/funnel?group_by=planet", headers=headers)
    assert wrong.status_code in (400, 422)
    maker = await staff.token("maker", "ops_maker")
    denied = await client.get("/admin/v1/channels/funnel", headers=maker)
    assert denied.status_code == 403


async def test_cohorts_and_conversions(client: Any, staff: StaffFactory, population: Any) -> None:
    headers = await staff.token("cm", "channel_manager")
    resp = await client.get("/admin/v1/channels/cohorts?period=week", headers=headers)
    assert resp.status_code == 200, resp.text
    assert resp.json() == {
        "period": "week",
        "data": [
            {
                "cohort": "2026-06-01",
                "opened": 9,
                "activated": 9,
                "effective": 7,
                "retained_30d": 1,
                "retained_90d": 1,
                "referred": 1,
                "activation_rate": 1.0,
                "effective_rate": 0.7778,
                "retention_30d_rate": 0.1111,
                "retention_90d_rate": 0.1111,
            },
            {
                "cohort": "2026-06-08",
                "opened": 2,
                "activated": 1,
                "effective": 0,
                "retained_30d": 1,
                "retained_90d": 0,
                "referred": 0,
                "activation_rate": 0.5,
                "effective_rate": 0.0,
                "retention_30d_rate": 0.5,
                "retention_90d_rate": 0.0,
            },
        ],
    }
    month = await client.get("/admin/v1/channels/cohorts?period=month&format=csv", headers=headers)
    lines = month.text.strip().splitlines()
    assert lines[1].startswith("2026-06,11,10,7,2,1,1,")

    _, pa, *_ = population
    resp = await client.get("/admin/v1/channels/conversions?group_by=partner", headers=headers)
    row = next(r for r in resp.json()["data"] if r["key"] == pa.partner_id)
    assert row == {
        "key": pa.partner_id,
        "opened": 5,
        "activated": 4,
        "effective": 2,
        "retained_30d": 1,  # a3 retained without being effective: not a step conversion
        "retained_90d": 1,
        "referring": 1,
        "opened_to_activated": 0.8,
        "activated_to_effective": 0.5,
        "effective_to_retained_30d": 0.5,
        "retained_30d_to_retained_90d": 1.0,
        "retained_90d_to_referring": 1.0,
    }


async def test_milestones_incentives_idempotency_and_clawback(
    app: Litestar, population: Any, sessions: Any
) -> None:
    ids, pa, *_ = population
    async with sessions() as s:
        a1 = await milestone(s, ids["a1"])
        assert a1.activated_at == T0 + D
        assert a1.effective_at == T0 + 2 * D
        assert (a1.retained_30d, a1.retained_90d, a1.referred) == (True, True, 1)
        a3 = await milestone(s, ids["a3"])
        assert a3.referrer_id == ids["a1"]
        assert (a3.effective_at, a3.retained_30d) == (None, True)
        a2 = await milestone(s, ids["a2"])
        assert a2.window_amount == 3_000  # the refund on day 32 is outside its 30-day window
        c2 = await milestone(s, ids["c2"])
        assert (c2.activation_days, c2.effective_min_amount, c2.effective_at) == (7, 5_000, None)
        c1 = [i.amount for i in await incentives.incentives_of(s, ids["c1"])]
        # 1% of ¥100 + ¥50 (nothing of the day-100 spend); one slice or two depending on the
        # order the jobs ran in (the day-10 spend is inside the window too).
        assert sum(c1) == 150 and c1 in ([100, 50], [150])
        tiers = sorted(
            [i.amount for n in (1, 2, 3) for i in await incentives.incentives_of(s, ids[f"b{n}"])]
        )
        assert tiers == [2_000, 2_500, 3_000]
        a5 = await incentives.incentives_of(s, ids["a5"])
        assert [(i.status, i.reason) for i in a5] == [("clawed_back", "fraud confirmed")]
        codes = {(await milestone(s, ids[k])).referral_code for k in ids if len(k) == 2}
        assert len(codes) == 11  # every customer has its own code

    async with sessions() as s:
        before = {k: snapshot(await milestone(s, v)) for k, v in ids.items() if len(k) == 2}
        txns = [v for k, v in ids.items() if k.startswith("txn:")]
        for tid in txns:
            assert await lifecycle.apply_transaction(s, tid) is False
        await s.commit()
    # The same jobs once more, as a redelivered outbox would run them.
    from gateway.jobs import enqueue  # noqa: PLC0415

    async with sessions() as s:
        for tid in txns:
            await enqueue(s, "channels.apply_transaction", {"transaction_id": tid})
        await s.commit()
    await run_jobs(app)
    async with sessions() as s:
        after = {k: snapshot(await milestone(s, v)) for k, v in ids.items() if len(k) == 2}
        assert await lifecycle.unapplied_transactions(s, T0 - D) == []
    assert after == before

    async with sessions() as s:
        # Already clawed back: nothing left. Fraud confirmed 91 days after accrual: too late.
        assert await incentives.claw_back(s, ids["a5"], "again", at=T0 + 40 * D) == 0
        assert await incentives.claw_back(s, ids["a1"], "late", at=T0 + 2 * D + 91 * D) == 0
        assert (await milestone(s, ids["a1"])).incentive_clawed_back == 0
        assert await incentives.claw_back(s, ids["a1"], "in time", at=T0 + 2 * D + 89 * D) == 2000
        a1 = await milestone(s, ids["a1"])
        assert (a1.incentive_accrued, a1.incentive_clawed_back, a1.flagged) == (2000, 2000, True)
        await s.commit()
    balances = await assert_ledger_balanced(sessions)
    assert balances.get(f"incentive_payable:{pa.partner_id}", 0) == 0
