"""Marketing lists, value tiers and the daily moments of truth, on a population timed from now."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from litestar import Litestar

from gateway.channels.lifecycle import jobs as lifecycle_jobs
from gateway.channels.lists import service as lists
from gateway.db import utcnow
from gateway.ids import new_id
from gateway.jobs.models import Job
from gateway.notifications.models import Event
from gateway.scenarios.campus.models import CampusCard
from tests.channels.support import milestone, seed_customer, seed_txn
from tests.conftest import StaffFactory, run_jobs
from tests.partners.support import onboard

D = timedelta(days=1)


async def test_segments_tiers_moments_and_the_student_exclusion(
    client: Any, app: Litestar, staff: StaffFactory, sessions: Any
) -> None:
    partner = await onboard(client, staff, webhook_url=None)
    pid = partner.partner_id
    now = utcnow()
    async with sessions() as s:
        u1 = await seed_customer(s, pid, now - 20 * D)  # inactive 20 days
        u2 = await seed_customer(s, pid, now - 10 * D)  # inactive, but only 10 days
        u3 = await seed_customer(s, pid, now - 60 * D)  # effective, then dormant
        await seed_txn(s, pid, u3, 20_000, now - 59 * D)
        u4 = await seed_customer(s, pid, now - 60 * D)  # effective and still around
        await seed_txn(s, pid, u4, 20_000, now - 59 * D)
        await seed_txn(s, pid, u4, 20_000, now - 5 * D)
        top = await seed_customer(s, pid, now - 40 * D)  # spends ¥2,500 in five payments
        for n in range(5):
            await seed_txn(s, pid, top, 50_000, now - (30 - 7 * n) * D)
        student = await seed_customer(s, pid, now - 20 * D, scenario="campus")
        s.add(
            CampusCard(
                id=new_id("ccd"),
                partner_id=pid,
                customer_id=student,
                student_no="S-LIST-1",
                role="student",
            )
        )
        await s.commit()
    await run_jobs(app)
    async with sessions() as s:
        assert await lists.recompute_value_tiers(s) == 3
        tiers = {c: (await milestone(s, c)).value_tier for c in (u1, u3, u4, top)}
        await s.commit()
    assert tiers == {u1: "low", u3: "low", u4: "potential", top: "high"}

    cm = await staff.token("cm", "channel_manager")

    async def listed(query: str) -> list[str]:
        resp = await client.get(f"/admin/v1/channels/lists?{query}", headers=cm)
        assert resp.status_code == 200, resp.text
        return sorted(e["customer_id"] for e in resp.json()["data"])

    assert await listed("segment=opened_not_activated_14d") == sorted([u1, student])
    assert u2 not in await listed("segment=opened_not_activated_14d&product_type=payment")
    # Credit products never reach a campus student (the campus adapter's predicate: a card).
    assert await listed("segment=opened_not_activated_14d&product_type=credit_card") == [u1]
    assert await listed("segment=effective_dormant_30d") == [u3]
    assert await listed("segment=high_value") == [top]
    assert await listed(f"segment=potential_value&partner_id={pid}") == [u4]
    assert await listed("segment=potential_value&partner_id=ptn_other") == []

    # Every registered predicate excludes: another one adds its customers to the exclusion.
    def students(customer_id: Any) -> sa.ColumnElement[bool]:
        return customer_id.in_([u1])

    lists.register_credit_exclusion(students)
    try:
        loan = await listed("segment=opened_not_activated_14d&product_type=consumer_loan")
        assert loan == []
    finally:
        lists.unregister_credit_exclusion(students)

    csv = await client.get(
        "/admin/v1/channels/lists?segment=effective_dormant_30d&format=csv", headers=cm
    )
    lines = csv.text.strip().splitlines()
    assert lines[0].startswith("customer_id,partner_id,scenario,sub_channel,campaign,opened_at")
    assert lines[1].startswith(f"{u3},{pid},community,,,")
    bad = await client.get("/admin/v1/channels/lists?segment=everyone", headers=cm)
    assert bad.status_code in (400, 422)
    finance = await staff.token("fin", "finance")
    assert (
        await client.get("/admin/v1/channels/lists?segment=low_value", headers=finance)
    ).status_code == 403

    async with sessions() as s:
        assert await lists.daily_moments(s) == 3  # u1 and the student inactive, u3 dormant
        assert await lists.daily_moments(s) == 0  # told once
        await s.commit()
        moments = (
            await s.scalars(
                sa.select(Event.data).where(
                    Event.partner_id == pid, Event.type == "customer.moment"
                )
            )
        ).all()
        daily = (
            await s.scalars(sa.select(Job.dedupe_key).where(Job.kind == lifecycle_jobs.DAILY_JOB))
        ).all()
    seen = sorted(
        (m["moment"], m["customer_id"]) for m in moments if m["moment"] != "first_transaction"
    )
    assert seen == sorted(
        [("opened_inactive_14d", u1), ("opened_inactive_14d", student), ("dormant_30d", u3)]
    )
    assert sum(m["moment"] == "first_transaction" for m in moments) == 3
    # The daily pass is queued for the next 02:00 Shanghai, once.
    assert daily == [f"{lifecycle_jobs.DAILY_JOB}:{lifecycle_jobs.next_daily_run(utcnow())[0]}"]


def test_rfm_tier_thresholds() -> None:
    assert lists.rfm_tier(1, 5, 200_000) == "high"
    assert lists.rfm_tier(40, 5, 200_000) == "sub"
    assert lists.rfm_tier(3, 1, 100) == "potential"
    assert lists.rfm_tier(61, 1, 100) == "low"
