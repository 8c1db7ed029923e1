"""The live rule set each process keeps compiled: every change that alters what runs live is seen
on the next assessment in the process that made it, and within ``CHECK_SECONDS`` elsewhere."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from gateway.db import utcnow
from gateway.risk import ruleset
from gateway.risk.models import RiskRule, RiskRuleset
from tests.conftest import StaffFactory
from tests.risk.support import fired, score

RULES = "/admin/v1/risk/rules"
EVERYTHING = {
    "id": "everything",
    "event_type": "transaction",
    "description": "Every payment.",
    "expression": "true",
    "subject": "customer",
}


async def test_shadow_and_publish_act_on_the_next_assessment(
    client: Any, staff: StaffFactory, sessions: Any
) -> None:
    analyst = await staff.token("ana-live", "risk_analyst")
    lead = await staff.token("lead-live", "risk_lead")
    before = await score(sessions, "transaction", amount=100, customer_id="cus_1")
    assert (before.ruleset_version, before.hits) == (1, ())

    await client.post(RULES, json=EVERYTHING, headers=analyst)
    drafted = await score(sessions, "transaction", amount=100, customer_id="cus_2")
    assert (drafted.ruleset_version, drafted.hits) == (1, ())  # a draft does not run

    shadowed = await client.post(f"{RULES}/everything/shadow", headers=analyst)
    assert shadowed.status_code == 200, shadowed.text
    shadow = await score(sessions, "transaction", amount=100, customer_id="cus_3")
    assert fired(shadow, "shadow") == {"everything"}
    assert (shadow.outcome.value, shadow.ruleset_version) == ("allow", 2)

    published = await client.post(f"{RULES}/everything/publish", headers=lead)
    assert published.json()["ruleset_version"] == 3
    live = await score(sessions, "transaction", amount=100, customer_id="cus_4")
    assert fired(live) == {"everything"}
    assert (live.outcome.value, live.ruleset_version) == ("review", 3)

    edited = await client.put(f"{RULES}/everything", json={"expression": "false"}, headers=lead)
    assert edited.json()["status"] == "draft"
    reshadowed = await client.post(f"{RULES}/everything/shadow", headers=lead)
    assert reshadowed.status_code == 200, reshadowed.text
    both = await score(sessions, "transaction", amount=100, customer_id="cus_5")
    assert (fired(both), fired(both, "shadow")) == ({"everything"}, set())
    assert both.ruleset_version == 4


async def test_a_change_made_by_another_replica_is_seen_after_the_check_interval(
    sessions: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ruleset, "CHECK_SECONDS", 3600.0)
    first = await score(sessions, "transaction", amount=100, customer_id="cus_1")
    assert first.hits == ()
    now = utcnow()
    async with sessions() as s:  # another process publishes: nothing tells this one
        await s.execute(
            sa.insert(RiskRule).values(
                **EVERYTHING,
                version=1,
                severity="review",
                weight=10,
                status="published",
                author="staff:a",
                published_by="staff:b",
                created_at=now,
                published_at=now,
            )
        )
        await s.execute(
            sa.insert(RiskRuleset).values(
                version=2, rules={"everything": 1}, published_by="staff:b", created_at=now
            )
        )
        await s.commit()
    stale = await score(sessions, "transaction", amount=100, customer_id="cus_2")
    assert (stale.ruleset_version, stale.hits) == (1, ())  # within the interval
    monkeypatch.setattr(ruleset, "CHECK_SECONDS", 0.0)  # the interval has passed
    seen = await score(sessions, "transaction", amount=100, customer_id="cus_3")
    assert (seen.ruleset_version, fired(seen)) == (2, {"everything"})
