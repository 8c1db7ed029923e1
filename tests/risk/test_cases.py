"""Cases: one open case per subject, the queue, take-next locking, snoozes."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from gateway.db import utcnow
from tests.conftest import StaffFactory
from tests.risk.support import fired, openings

CASES = "/admin/v1/risk/cases"


def _farm(sub_channel: str, phone: str, count: int, start: int = 0) -> list[dict[str, Any]]:
    return [
        {"sub_channel": sub_channel, "phone_index": phone, "id_index": f"{phone}-{n}"}
        for n in range(start, start + count)
    ]


async def test_later_hits_attach_to_the_open_case_and_raise_its_priority(
    client: Any, staff: StaffFactory, sessions: Any
) -> None:
    verdicts = await openings(sessions, _farm("cmt_farm", "p1", 4))
    assert [bool(fired(v)) for v in verdicts] == [False, False, True, True]
    assert verdicts[2].case_id == verdicts[3].case_id is not None
    analyst = await staff.token("ana", "risk_analyst")
    [case] = (await client.get(f"{CASES}?status=open", headers=analyst)).json()["data"]
    assert case["subject"] == {"type": "sub_channel", "id": "cmt_farm"}
    assert (case["priority"], case["hits"], case["rules"]) == (20, 2, ["shared_identity"])
    assert [e["values"]["phone_ids_30d"] for e in case["evidence"]] == [3, 4]
    assert case["evidence"][0]["ruleset_version"] == 1
    assert (await client.get(f"{CASES}?rule=night_burst", headers=analyst)).json()["data"] == []

    closed = await client.post(
        f"{CASES}/{case['id']}/decide",
        json={"outcome": "not_fraud", "note": "a family sharing a phone"},
        headers=analyst,
    )
    assert closed.status_code == 200, closed.text
    assert (closed.json()["status"], closed.json()["outcome"]) == ("closed", "not_fraud")
    again = await client.post(
        f"{CASES}/{case['id']}/decide", json={"outcome": "fraud"}, headers=analyst
    )
    assert (again.status_code, again.json()["code"]) == (409, "case_closed")
    [later] = await openings(sessions, _farm("cmt_farm", "p1", 1, start=9))
    assert later.case_id not in (None, case["id"])  # closed cases never reopen: a new one
    rules = (await client.get("/admin/v1/risk/rules/shared_identity", headers=analyst)).json()
    assert rules["stats"] == {
        "hits": 3,
        "shadow_hits": 0,
        "cases": 2,
        "closed_cases": 1,
        "confirmed_fraud": 0,
        "precision": 0.0,
    }


async def test_take_next_never_gives_two_analysts_one_case(
    client: Any, staff: StaffFactory, sessions: Any
) -> None:
    for n in range(3):
        await openings(sessions, _farm(f"cmt_{n}", f"phone-{n}", 3 + n))
    tokens = [await staff.token(f"ana{n}", "risk_analyst") for n in range(4)]
    taken = await asyncio.gather(*(client.post(f"{CASES}/next", headers=t) for t in tokens))
    codes = sorted(r.status_code for r in taken)
    assert codes == [200, 200, 200, 204]
    bodies = [r.json() for r in taken if r.status_code == 200]
    assert len({b["id"] for b in bodies}) == 3
    assert {b["status"] for b in bodies} == {"in_review"}
    assert len({b["assignee"] for b in bodies}) == 3
    first = next(b for b in bodies if b["subject"]["id"] == "cmt_2")
    assert first["priority"] == 30  # the highest-priority case went to someone


async def test_assign_with_an_empty_body_assigns_the_caller(
    client: Any, staff: StaffFactory, sessions: Any
) -> None:
    await openings(sessions, _farm("cmt_a", "pa", 3))
    lead = await staff.token("lead", "risk_lead")
    [case] = (await client.get(CASES, headers=lead)).json()["data"]
    mine = await client.post(f"{CASES}/{case['id']}/assign", json={}, headers=lead)
    assert (mine.json()["assignee"], mine.json()["status"]) == ("staff:lead", "in_review")
    theirs = await client.post(
        f"{CASES}/{case['id']}/assign", json={"assignee": "staff:other"}, headers=lead
    )
    assert theirs.json()["assignee"] == "staff:other"
    assert (await client.post(f"{CASES}/next", headers=lead)).status_code == 204
    missing = await client.post(f"{CASES}/cas_nope/assign", json={}, headers=lead)
    assert missing.status_code == 404


async def test_a_snoozed_rule_is_recorded_but_does_not_act_for_its_subject(
    client: Any, staff: StaffFactory, sessions: Any
) -> None:
    analyst = await staff.token("ana", "risk_analyst")
    until = (utcnow() + timedelta(days=7)).isoformat()
    snoozed = await client.post(
        "/admin/v1/risk/snoozes",
        json={
            "rule": "shared_identity",
            "subject": {"type": "sub_channel", "id": "cmt_family"},
            "until": until,
            "reason": "dormitory sharing one landline",
        },
        headers=analyst,
    )
    assert snoozed.status_code == 201, snoozed.text
    quiet = (await openings(sessions, _farm("cmt_family", "pf", 3)))[-1]
    assert (quiet.outcome.value, fired(quiet), fired(quiet, "snoozed")) == (
        "allow",
        set(),
        {"shared_identity"},
    )
    other = (await openings(sessions, _farm("cmt_other", "po", 3)))[-1]
    assert other.outcome.value == "review"
    past = await client.post(
        "/admin/v1/risk/snoozes",
        json={
            "rule": "shared_identity",
            "subject": {"type": "sub_channel", "id": "x"},
            "until": "2020-01-01T00:00:00Z",
            "reason": "r",
        },
        headers=analyst,
    )
    assert (past.status_code, past.json()["code"]) == (422, "snooze_in_past")
    unknown = await client.post(
        "/admin/v1/risk/snoozes",
        json={
            "rule": "nope",
            "subject": {"type": "customer", "id": "x"},
            "until": until,
            "reason": "r",
        },
        headers=analyst,
    )
    assert unknown.status_code == 404
