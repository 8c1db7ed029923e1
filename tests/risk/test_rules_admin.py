"""Rules through the admin API: drafts, validation, four-eyes publish, shadow, backtest."""

from __future__ import annotations

from typing import Any

from tests.conftest import StaffFactory
from tests.risk.support import NOON, ago, fired, score

RULES = "/admin/v1/risk/rules"


def _draft(**overrides: Any) -> dict[str, Any]:
    return {
        "id": "big_payment",
        "event_type": "transaction",
        "description": "Payments of 5,000 yuan or more.",
        "expression": "event.amount >= 500000",
        "subject": "customer",
    } | overrides


async def test_default_rules_are_listed_with_their_figures(
    client: Any, staff: StaffFactory
) -> None:
    auditor = await staff.token("aud", "auditor")
    listed = await client.get(RULES, headers=auditor)
    assert listed.status_code == 200, listed.text
    rules = {r["id"]: r for r in listed.json()["data"]}
    assert set(rules) == {
        "shared_identity",
        "opening_spike",
        "incentive_farming",
        "round_amount_cashout",
        "fuel_impossible_volume",
        "refund_cycling",
        "escrow_drain",
        "night_burst",
    }
    assert {r["severity"] for r in rules.values()} == {"review"}
    assert {r["status"] for r in rules.values()} == {"published"}
    assert rules["escrow_drain"]["event_type"] == "release"
    assert rules["shared_identity"]["stats"] == {
        "hits": 0,
        "shadow_hits": 0,
        "cases": 0,
        "closed_cases": 0,
        "confirmed_fraud": 0,
        "precision": None,
    }
    refused = await client.post(RULES, json=_draft(), headers=auditor)
    assert (refused.status_code, refused.json()["code"]) == (403, "role_required")


async def test_bad_drafts_are_refused_with_a_clear_code(client: Any, staff: StaffFactory) -> None:
    analyst = await staff.token("ana", "risk_analyst")
    cases = [
        ("event.amount >=", "rule_invalid"),
        ("features.no_such_thing > 1", "rule_unknown_feature"),
        ("event.amount + 1", "rule_not_boolean"),
        ("amount > 1", "rule_invalid"),
    ]
    for expression, code in cases:
        resp = await client.post(RULES, json=_draft(expression=expression), headers=analyst)
        assert (resp.status_code, resp.json()["code"]) == (422, code), expression
    bad_type = await client.post(RULES, json=_draft(event_type="nope"), headers=analyst)
    assert bad_type.status_code == 422
    update = await client.put(
        f"{RULES}/night_burst", json={"expression": "features.is_night &&"}, headers=analyst
    )
    assert (update.status_code, update.json()["code"]) == (422, "rule_invalid")


async def test_publish_needs_a_risk_lead_who_is_not_the_author(
    client: Any, staff: StaffFactory, sessions: Any
) -> None:
    author = await staff.token("lead-a", "risk_lead")
    other = await staff.token("lead-b", "risk_lead")
    analyst = await staff.token("ana2", "risk_analyst")
    created = await client.post(RULES, json=_draft(severity="block"), headers=author)
    assert created.status_code == 201, created.text
    assert (created.json()["status"], created.json()["version"]) == ("draft", 1)
    again = await client.post(RULES, json=_draft(), headers=author)
    assert (again.status_code, again.json()["code"]) == (409, "rule_exists")

    own = await client.post(f"{RULES}/big_payment/publish", headers=author)
    assert (own.status_code, own.json()["code"]) == (403, "four_eyes_violation")
    not_lead = await client.post(f"{RULES}/big_payment/publish", headers=analyst)
    assert (not_lead.status_code, not_lead.json()["code"]) == (403, "role_required")
    draft_only = await score(sessions, "transaction", amount=600_000, customer_id="cus_1")
    assert draft_only.outcome.value == "allow" and fired(draft_only, "draft") == set()

    published = await client.post(f"{RULES}/big_payment/publish", headers=other)
    assert published.status_code == 200, published.text
    body = published.json()
    assert body["ruleset_version"] == 2
    assert (body["rule"]["status"], body["rule"]["published_by"]) == ("published", "staff:lead-b")
    live = await score(sessions, "transaction", amount=600_000, customer_id="cus_1")
    assert (live.outcome.value, live.ruleset_version) == ("block", 2)

    # a new version is a draft again until someone else publishes it; the old one still acts
    edited = await client.put(
        f"{RULES}/big_payment", json={"expression": "event.amount >= 900000"}, headers=other
    )
    assert (edited.json()["version"], edited.json()["status"]) == (2, "draft")
    assert edited.json()["published_version"] == 1
    still = await score(sessions, "transaction", amount=600_000, customer_id="cus_2")
    assert still.outcome.value == "block"
    mine = await client.post(f"{RULES}/big_payment/publish", headers=other)
    assert mine.json()["code"] == "four_eyes_violation"
    theirs = await client.post(f"{RULES}/big_payment/publish", headers=author)
    assert theirs.json()["ruleset_version"] == 3
    relaxed = await score(sessions, "transaction", amount=600_000, customer_id="cus_3")
    assert relaxed.outcome.value == "allow"

    audit = await client.get(
        "/admin/v1/audit?action=risk.rule_published", headers=await staff.token("a", "auditor")
    )
    assert [e["subject"]["id"] for e in audit.json()["data"]] == ["big_payment", "big_payment"]


async def test_shadow_rules_are_recorded_and_never_act(
    client: Any, staff: StaffFactory, sessions: Any
) -> None:
    analyst = await staff.token("ana3", "risk_analyst")
    await client.post(
        RULES, json=_draft(id="everything", expression="true", severity="block"), headers=analyst
    )
    shadowed = await client.post(f"{RULES}/everything/shadow", headers=analyst)
    assert shadowed.json()["status"] == "shadow"
    verdict = await score(sessions, "transaction", amount=100, customer_id="cus_s")
    assert verdict.outcome.value == "allow"
    assert fired(verdict, "shadow") == {"everything"}
    assert verdict.case_ids == ()
    listed = (await client.get(f"{RULES}/everything", headers=analyst)).json()
    assert (listed["stats"]["hits"], listed["stats"]["shadow_hits"]) == (0, 1)
    queue = await client.get("/admin/v1/risk/cases", headers=analyst)
    assert queue.json()["data"] == []


async def test_backtest_replays_recorded_events(
    client: Any, staff: StaffFactory, sessions: Any
) -> None:
    analyst = await staff.token("ana4", "risk_analyst")
    for n, amount in enumerate([100_000, 250_000, 300_000, 900]):
        await score(
            sessions,
            "transaction",
            kind="payment",
            amount=amount,
            merchant="mch_b",
            customer_id=f"cus_{n}",
            occurred_at=ago(NOON, hours=n),
        )
    await score(sessions, "transaction", amount=500_000, occurred_at=ago(NOON, days=40))
    await client.post(
        RULES,
        json=_draft(id="large", expression="features.amount >= 200000", subject="merchant"),
        headers=analyst,
    )
    window = {"from": ago(NOON, days=1).isoformat(), "to": NOON.isoformat()}
    result = await client.post(f"{RULES}/large/backtest", json=window, headers=analyst)
    assert result.status_code == 200, result.text
    body = result.json()
    assert {
        k: body[k] for k in ("version", "status", "evaluated", "hits", "errors", "subjects")
    } == {
        "version": 1,
        "status": "draft",
        "evaluated": 3,  # the event at NOON itself is outside [from, to)
        "hits": 2,
        "errors": 0,
        "subjects": 1,
    }
    assert sorted(h["values"]["amount"] for h in body["sample"]) == [250_000, 300_000]
    assert body["sample"][0]["subject"] == {"type": "merchant", "id": "mch_b"}
    # a draft of an existing rule is compared with the version in force
    await client.put(
        f"{RULES}/round_amount_cashout",
        json={"expression": "features.round_amount"},
        headers=analyst,
    )
    compared = await client.post(
        f"{RULES}/round_amount_cashout/backtest", json=window, headers=analyst
    )
    assert (compared.json()["hits"], compared.json()["published_hits"]) == (2, 2)
    backwards = await client.post(
        f"{RULES}/large/backtest",
        json={"from": window["to"], "to": window["from"]},
        headers=analyst,
    )
    assert (backwards.status_code, backwards.json()["code"]) == (422, "window_invalid")
