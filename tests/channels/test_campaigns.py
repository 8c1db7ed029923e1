"""Campaigns (DESIGN §7): the staff API, subsidy arithmetic, and budgets under concurrent draws."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col, select

from gateway.audit.models import AuditRecord
from gateway.channels.campaigns import service
from gateway.channels.campaigns.models import Campaign, CampaignCustomerMonth, SubsidyType
from gateway.channels.campaigns.schemas import CampaignCreate, SubsidyRule
from gateway.staff.service import StaffIdentity
from tests.conftest import StaffFactory
from tests.partners.support import onboard

Sessions = async_sessionmaker[AsyncSession]
STARTS = "2026-01-01T00:00:00+08:00"
ENDS = "2027-01-01T00:00:00+08:00"
MARCH = datetime(2026, 3, 10, 4, tzinfo=UTC)
MANAGER = StaffIdentity(user_id="usr_test", username="cm", roles=frozenset({"channel_manager"}))


def body(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "name": "Spring fuel drive",
        "scenario": "fuel",
        "product_type": "payment",
        "budget": 1_000_000,
        "subsidy": {
            "type": "per_litre",
            "value": 30,
            "cap_per_txn": 1_000,
            "cap_per_customer_month": 5_000,
        },
        "starts_at": STARTS,
        "ends_at": ENDS,
    }
    return base | overrides


async def make(sessions: Sessions, **overrides: Any) -> Campaign:
    """A campaign made through the service (validation included), committed."""
    data = msgspec.json.decode(msgspec.json.encode(body(**overrides)), type=CampaignCreate)
    async with sessions() as s:
        campaign = await service.create_campaign(s, data, MANAGER)
        await s.commit()
    return campaign


async def draw(
    sessions: Sessions,
    campaign: Campaign | None,
    amount: int,
    *,
    customer: str = "cus_a",
    at: datetime = MARCH,
    litres_ml: int | None = None,
) -> service.Grant:
    async with sessions() as s:
        grant = await service.draw_subsidy(
            s, campaign=campaign, customer_id=customer, amount=amount, litres_ml=litres_ml, at=at
        )
        await s.commit()
    return grant


async def spent(sessions: Sessions, campaign_id: str) -> int:
    async with sessions() as s:
        return (await service.get_campaign(s, campaign_id)).spent


# -- the staff API ----------------------------------------------------------------------------


async def test_channel_manager_creates_reads_and_changes_a_campaign(
    client: Any, staff: StaffFactory, sessions: Sessions
) -> None:
    headers = await staff.token("cm", "channel_manager")
    created = await client.post("/admin/v1/campaigns", json=body(), headers=headers)
    assert created.status_code == 201, created.text
    campaign = created.json()
    assert campaign["id"].startswith("cmp_")
    assert campaign["status"] == "active"
    assert (campaign["budget"], campaign["spent"], campaign["remaining"]) == (
        1_000_000,
        0,
        1_000_000,
    )
    assert campaign["subsidy"]["type"] == "per_litre"
    assert campaign["effective_rule"] == {"activation_days": 30, "min_amount": 10_000}
    assert campaign["starts_at"] == "2025-12-31T16:00:00Z"
    assert campaign["currency"] == "CNY"
    url = f"/admin/v1/campaigns/{campaign['id']}"

    fetched = await client.get(url, headers=headers)
    assert fetched.json() == campaign
    paused = await client.patch(url, json={"status": "paused"}, headers=headers)
    assert paused.status_code == 200, paused.text
    assert paused.json()["status"] == "paused"
    changed = await client.patch(
        url,
        json={"status": "active", "budget": 1_500_000, "ends_at": "2026-06-30T16:00:00Z"},
        headers=headers,
    )
    assert changed.status_code == 200, changed.text
    after = changed.json()
    assert (after["status"], after["budget"], after["remaining"]) == (
        "active",
        1_500_000,
        1_500_000,
    )
    assert after["ends_at"] == "2026-06-30T16:00:00Z"

    async with sessions() as s:
        trail = (
            await s.scalars(
                select(AuditRecord)
                .where(col(AuditRecord.subject_id) == campaign["id"])
                .order_by(col(AuditRecord.id))
            )
        ).all()
    assert [(r.action, r.actor) for r in trail] == [
        ("campaign.created", "staff:cm"),
        ("campaign.updated", "staff:cm"),
        ("campaign.updated", "staff:cm"),
    ]
    assert trail[1].before is not None and trail[1].after is not None
    assert (trail[1].before["status"], trail[1].after["status"]) == ("active", "paused")
    assert (trail[2].before["budget"], trail[2].after["budget"]) == (1_000_000, 1_500_000)


async def test_only_channel_managers_change_campaigns(client: Any, staff: StaffFactory) -> None:
    maker = await staff.token("maker", "ops_maker")
    auditor = await staff.token("auditor", "auditor")
    manager = await staff.token("cm", "channel_manager")
    assert (await client.post("/admin/v1/campaigns", json=body())).status_code == 401
    refused = await client.post("/admin/v1/campaigns", json=body(), headers=maker)
    assert (refused.status_code, refused.json()["code"]) == (403, "role_required")
    assert (await client.get("/admin/v1/campaigns", headers=maker)).status_code == 403
    assert (
        await client.post("/admin/v1/campaigns", json=body(), headers=auditor)
    ).status_code == 403

    created = (await client.post("/admin/v1/campaigns", json=body(), headers=manager)).json()
    url = f"/admin/v1/campaigns/{created['id']}"
    assert (await client.get(url, headers=maker)).status_code == 403
    assert (await client.patch(url, json={"budget": 5}, headers=maker)).status_code == 403
    assert (await client.get(url, headers=auditor)).status_code == 200
    assert (await client.patch(url, json={"status": "paused"}, headers=auditor)).status_code == 403


@pytest.mark.parametrize(
    ("change", "field", "code"),
    [
        ({"ends_at": STARTS}, "ends_at", "ends_before_start"),
        ({"scenario": "casino"}, "scenario", "scenario_unknown"),
        ({"scenario": "community"}, "subsidy.type", "per_litre_fuel_only"),
        (
            {"product_type": "credit_card", "scenario": "fuel"},
            "subsidy",
            "subsidy_payment_only",
        ),
        (
            {
                "subsidy": {
                    "type": "percent",
                    "value": 101,
                    "cap_per_txn": 1,
                    "cap_per_customer_month": 1,
                }
            },
            "subsidy.value",
            "out_of_range",
        ),
        ({"budget": 0}, "budget", "invalid"),
        ({"budget": -100}, "budget", "invalid"),
        (
            {
                "subsidy": {
                    "type": "fixed",
                    "value": 0,
                    "cap_per_txn": 1,
                    "cap_per_customer_month": 1,
                }
            },
            "subsidy.value",
            "invalid",
        ),
        ({"product_type": "mortgage"}, "product_type", "invalid"),
        ({"starts_at": "2026-01-01T00:00:00"}, "starts_at", "invalid"),
        ({"budget": 1.5}, "budget", "invalid"),
        ({"colour": "red"}, "colour", "unknown_field"),
    ],
)
async def test_invalid_campaigns_answer_422_with_the_field(
    client: Any, staff: StaffFactory, change: dict[str, Any], field: str, code: str
) -> None:
    headers = await staff.token("cm", "channel_manager")
    resp = await client.post("/admin/v1/campaigns", json=body(**change), headers=headers)
    assert resp.status_code == 422, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    assert {"field": field, "code": code} in [
        {"field": e["field"], "code": e["code"]} for e in resp.json()["errors"]
    ]


async def test_every_broken_rule_is_reported_at_once(client: Any, staff: StaffFactory) -> None:
    headers = await staff.token("cm", "channel_manager")
    resp = await client.post(
        "/admin/v1/campaigns",
        json=body(scenario="community", ends_at=STARTS, product_type="deposit"),
        headers=headers,
    )
    assert resp.status_code == 422
    assert {e["code"] for e in resp.json()["errors"]} == {
        "ends_before_start",
        "per_litre_fuel_only",
        "subsidy_payment_only",
    }


async def test_partner_must_exist_and_run_the_scenario(client: Any, staff: StaffFactory) -> None:
    headers = await staff.token("cm", "channel_manager")
    missing = await client.post(
        "/admin/v1/campaigns", json=body(partner_id="ptn_nope"), headers=headers
    )
    assert (missing.status_code, missing.json()["code"]) == (404, "not_found")
    partner = await onboard(client, staff, scenarios=["community"])
    elsewhere = await client.post(
        "/admin/v1/campaigns", json=body(partner_id=partner.partner_id), headers=headers
    )
    assert elsewhere.status_code == 422
    assert elsewhere.json()["errors"][0]["code"] == "scenario_not_enabled"
    own = await client.post(
        "/admin/v1/campaigns",
        json=body(partner_id=partner.partner_id, scenario="community", subsidy=None),
        headers=headers,
    )
    assert own.status_code == 201, own.text
    assert (own.json()["partner_id"], own.json()["subsidy"]) == (partner.partner_id, None)


async def test_patch_rules(client: Any, staff: StaffFactory, sessions: Sessions) -> None:
    headers = await staff.token("cm", "channel_manager")
    campaign = await make(
        sessions,
        budget=1_000,
        subsidy={"type": "fixed", "value": 600, "cap_per_txn": 600, "cap_per_customer_month": 600},
    )
    assert (await draw(sessions, campaign, 10_000)).amount == 600
    url = f"/admin/v1/campaigns/{campaign.id}"

    below = await client.patch(url, json={"budget": 599}, headers=headers)
    assert below.status_code == 422
    assert below.json()["errors"][0] == {
        "field": "budget",
        "code": "budget_below_spent",
        "message": "600 fen is already spent.",
    }
    exact = await client.patch(url, json={"budget": 600}, headers=headers)
    assert exact.json()["remaining"] == 0
    early = await client.patch(url, json={"ends_at": "2025-12-31T16:00:00Z"}, headers=headers)
    assert early.json()["errors"][0]["code"] == "ends_before_start"
    empty = await client.patch(url, json={}, headers=headers)
    assert (empty.status_code, empty.json()["errors"][0]["code"]) == (422, "empty")
    null = await client.patch(url, json={"budget": None}, headers=headers)
    assert null.status_code == 422
    bad_status = await client.patch(url, json={"status": "ended"}, headers=headers)
    assert bad_status.status_code == 422
    unknown = await client.patch(
        "/admin/v1/campaigns/cmp_nope", json={"budget": 1}, headers=headers
    )
    assert (unknown.status_code, unknown.json()["code"]) == (404, "not_found")
    assert (await client.get("/admin/v1/campaigns/cmp_nope", headers=headers)).status_code == 404
    assert await spent(sessions, campaign.id) == 600


async def test_list_filters_and_pages(client: Any, staff: StaffFactory, sessions: Sessions) -> None:
    headers = await staff.token("cm", "channel_manager")
    fuel = await make(sessions)
    paused = await make(sessions, name="Paused")
    community = await make(sessions, scenario="community", subsidy=None, product_type="deposit")
    resp = await client.patch(
        f"/admin/v1/campaigns/{paused.id}", json={"status": "paused"}, headers=headers
    )
    assert resp.status_code == 200

    async def ids(query: str) -> list[str]:
        resp = await client.get(f"/admin/v1/campaigns{query}", headers=headers)
        assert resp.status_code == 200, resp.text
        return [c["id"] for c in resp.json()["data"]]

    assert await ids("") == [fuel.id, paused.id, community.id]
    assert await ids("?scenario=fuel") == [fuel.id, paused.id]
    assert await ids("?scenario=fuel&status=active") == [fuel.id]
    assert await ids("?product_type=deposit") == [community.id]
    assert await ids("?partner_id=ptn_nope") == []
    assert (
        await client.get("/admin/v1/campaigns?status=ended", headers=headers)
    ).status_code == 422
    first = (await client.get("/admin/v1/campaigns?limit=2", headers=headers)).json()
    assert [c["id"] for c in first["data"]] == [fuel.id, paused.id]
    assert await ids(f"?limit=2&cursor={first['next_cursor']}") == [community.id]


# -- subsidy arithmetic -----------------------------------------------------------------------


def rule(kind: SubsidyType, value: int, cap: int = 10**9) -> SubsidyRule:
    return SubsidyRule(type=kind, value=value, cap_per_txn=cap, cap_per_customer_month=10**9)


@pytest.mark.parametrize(
    ("amount", "expected"),
    [(1_005, 101), (1_004, 100), (1_015, 102), (5, 1), (4, 0), (100_000, 10_000)],
)
def test_percent_rounds_half_up_to_the_fen(amount: int, expected: int) -> None:
    assert service.subsidy_for(rule(SubsidyType.PERCENT, 10), amount) == expected


@pytest.mark.parametrize(
    ("litres_ml", "expected"),
    [(45_650, 1_370), (45_649, 1_369), (45_678, 1_370), (16, 0), (17, 1), (0, 0)],
)
def test_per_litre_counts_millilitres_half_up(litres_ml: int, expected: int) -> None:
    # 30 fen a litre: 45.650 L is 1369.5 fen → 1370; 0.017 L is 0.51 fen → 1.
    assert service.subsidy_for(rule(SubsidyType.PER_LITRE, 30), 100_000, litres_ml) == expected


def test_caps_per_transaction_and_by_the_payment_itself() -> None:
    assert service.subsidy_for(rule(SubsidyType.FIXED, 500), 10_000) == 500
    assert service.subsidy_for(rule(SubsidyType.FIXED, 500, cap=300), 10_000) == 300
    assert service.subsidy_for(rule(SubsidyType.FIXED, 500), 120) == 120  # never more than paid
    assert service.subsidy_for(rule(SubsidyType.PERCENT, 100, cap=800), 1_000) == 800
    assert service.subsidy_for(rule(SubsidyType.PER_LITRE, 80, cap=2_000), 50_000, 40_000) == 2_000


def test_bad_subsidy_inputs_are_bugs() -> None:
    with pytest.raises(ValueError, match="litres_ml"):
        service.subsidy_for(rule(SubsidyType.PER_LITRE, 30), 1_000)
    with pytest.raises(ValueError, match="positive amount"):
        service.subsidy_for(rule(SubsidyType.FIXED, 30), 0)
    with pytest.raises(ValueError, match="positive amount"):
        service.subsidy_for(rule(SubsidyType.PER_LITRE, 30), 1_000, -1)


def test_months_are_asia_shanghai_months() -> None:
    assert service.month_of(datetime(2026, 1, 31, 15, 59, 59, tzinfo=UTC)) == "2026-01"
    assert service.month_of(datetime(2026, 1, 31, 16, tzinfo=UTC)) == "2026-02"


# -- drawing and returning subsidies ----------------------------------------------------------


async def test_per_litre_draw_uses_millilitres(sessions: Sessions) -> None:
    campaign = await make(sessions)
    grant = await draw(sessions, campaign, 30_000, litres_ml=45_650)
    assert grant == service.Grant(campaign_id=campaign.id, amount=1_000)  # 1370 capped per txn
    assert await spent(sessions, campaign.id) == 1_000


async def test_nothing_applies_without_a_campaign_or_a_subsidy(sessions: Sessions) -> None:
    assert await draw(sessions, None, 1_000) == service.Grant(campaign_id=None, amount=0)
    bare = await make(sessions, scenario="community", product_type="deposit", subsidy=None)
    assert await draw(sessions, bare, 1_000) == service.NO_GRANT
    tiny = await make(
        sessions,
        scenario="community",
        subsidy={"type": "percent", "value": 10, "cap_per_txn": 100, "cap_per_customer_month": 100},
    )
    assert await draw(sessions, tiny, 4) == service.NO_GRANT  # 0.4 fen rounds to nothing
    async with sessions() as s:
        rows = await s.scalar(sa.select(sa.func.count()).select_from(CampaignCustomerMonth))
    assert rows == 0


async def test_monthly_cap_per_customer_resets_at_shanghai_midnight(sessions: Sessions) -> None:
    campaign = await make(
        sessions,
        scenario="community",
        subsidy={"type": "fixed", "value": 300, "cap_per_txn": 300, "cap_per_customer_month": 500},
    )
    jan_late = datetime(2026, 1, 31, 15, tzinfo=UTC)  # 23:00 on 31 January in Shanghai
    feb_first = datetime(2026, 1, 31, 16, tzinfo=UTC)  # 00:00 on 1 February in Shanghai
    assert (await draw(sessions, campaign, 5_000, at=jan_late)).amount == 300
    assert (await draw(sessions, campaign, 5_000, at=jan_late)).amount == 200
    assert await draw(sessions, campaign, 5_000, at=jan_late) == service.NO_GRANT
    assert (await draw(sessions, campaign, 5_000, at=feb_first)).amount == 300
    assert (await draw(sessions, campaign, 5_000, at=jan_late, customer="cus_b")).amount == 300

    async with sessions() as s:
        await service.return_subsidy(
            s, campaign_id=campaign.id, customer_id="cus_a", amount=200, at=jan_late
        )
        await s.commit()
    assert await spent(sessions, campaign.id) == 300 + 200 + 300 + 300 - 200
    assert (await draw(sessions, campaign, 5_000, at=jan_late)).amount == 200


async def test_budget_runs_out_with_a_partial_grant_then_nothing(sessions: Sessions) -> None:
    campaign = await make(
        sessions,
        scenario="community",
        budget=1_000,
        subsidy={
            "type": "fixed",
            "value": 300,
            "cap_per_txn": 300,
            "cap_per_customer_month": 10_000,
        },
    )
    grants = [await draw(sessions, campaign, 2_000, customer=f"cus_{i}") for i in range(5)]
    assert [g.amount for g in grants] == [300, 300, 300, 100, 0]
    assert grants[3].campaign_id == campaign.id
    assert grants[4] == service.NO_GRANT
    assert await spent(sessions, campaign.id) == 1_000
    async with sessions() as s:
        gone = await service.active_campaign(s, partner_id="ptn_x", scenario="community", at=MARCH)
    assert gone is None


async def test_returning_more_than_was_drawn_is_refused(sessions: Sessions) -> None:
    campaign = await make(
        sessions,
        scenario="community",
        subsidy={
            "type": "fixed",
            "value": 300,
            "cap_per_txn": 300,
            "cap_per_customer_month": 10_000,
        },
    )
    await draw(sessions, campaign, 2_000)
    async with sessions() as s:
        await service.return_subsidy(
            s, campaign_id=campaign.id, customer_id="cus_a", amount=0, at=MARCH
        )
        with pytest.raises(ValueError, match="never granted"):
            await service.return_subsidy(
                s, campaign_id=campaign.id, customer_id="cus_a", amount=301, at=MARCH
            )
        with pytest.raises(ValueError, match="never granted"):
            await service.return_subsidy(
                s,
                campaign_id=campaign.id,
                customer_id="cus_a",
                amount=1,
                at=MARCH + timedelta(days=31),
            )
        with pytest.raises(ValueError, match="negative"):
            await service.return_subsidy(
                s, campaign_id=campaign.id, customer_id="cus_a", amount=-1, at=MARCH
            )
    assert await spent(sessions, campaign.id) == 300


async def test_the_most_specific_running_campaign_wins(
    client: Any, staff: StaffFactory, sessions: Sessions
) -> None:
    ours = await onboard(client, staff, scenarios=["community"])
    other = await onboard(client, staff, scenarios=["community"])
    percent = {"type": "percent", "value": 5, "cap_per_txn": 100, "cap_per_customer_month": 100}
    await make(sessions, scenario="community", subsidy=percent)
    wide = await make(sessions, scenario="community", subsidy=percent)  # newer scenario-wide
    own = await make(sessions, scenario="community", subsidy=percent, partner_id=ours.partner_id)
    await make(
        sessions,
        scenario="community",
        subsidy=None,
        product_type="deposit",
        partner_id=other.partner_id,
    )  # funds no payment subsidy
    later = await make(
        sessions,
        scenario="community",
        subsidy=percent,
        partner_id=other.partner_id,
        starts_at="2026-06-01T00:00:00+08:00",
    )
    await make(sessions, scenario="fuel", partner_id=None)

    async def pick(partner_id: str, at: datetime = MARCH) -> str | None:
        async with sessions() as s:
            found = await service.active_campaign(
                s, partner_id=partner_id, scenario="community", at=at
            )
        return found.id if found else None

    assert await pick(ours.partner_id) == own.id
    assert await pick(other.partner_id) == wide.id  # its own campaign has not started
    assert await pick(other.partner_id, datetime(2026, 7, 1, tzinfo=UTC)) == later.id
    assert await pick("ptn_unknown") == wide.id
    assert await pick(ours.partner_id, datetime(2027, 1, 1, tzinfo=UTC)) is None  # all ended

    headers = await staff.token("cm", "channel_manager")
    await client.patch(f"/admin/v1/campaigns/{own.id}", json={"status": "paused"}, headers=headers)
    assert await pick(ours.partner_id) == wide.id


# -- concurrency ------------------------------------------------------------------------------


async def test_concurrent_draws_spend_the_budget_exactly(sessions: Sessions) -> None:
    campaign = await make(
        sessions,
        scenario="community",
        budget=1_000,
        subsidy={"type": "fixed", "value": 70, "cap_per_txn": 70, "cap_per_customer_month": 10_000},
    )

    async def pay(n: int) -> int:
        async with sessions() as s:
            grant = await service.draw_subsidy(
                s, campaign=campaign, customer_id=f"cus_{n}", amount=500, at=MARCH
            )
            await asyncio.sleep(0.005)  # hold the row while the others pile up behind it
            await s.commit()
        return grant.amount

    grants = await asyncio.gather(*(pay(n) for n in range(20)))
    assert sum(grants) == 1_000
    assert sorted(grants, reverse=True)[:15] == [70] * 14 + [20]
    assert await spent(sessions, campaign.id) == 1_000


async def test_concurrent_draws_of_one_customer_respect_the_monthly_cap(sessions: Sessions) -> None:
    campaign = await make(
        sessions,
        scenario="community",
        subsidy={"type": "fixed", "value": 70, "cap_per_txn": 70, "cap_per_customer_month": 500},
    )
    grants = await asyncio.gather(*(draw(sessions, campaign, 500) for _ in range(10)))
    assert sum(g.amount for g in grants) == 500
    assert await spent(sessions, campaign.id) == 500
