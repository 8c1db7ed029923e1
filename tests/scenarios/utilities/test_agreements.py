"""Auto-debit agreements: create, list, cancel; the notice, its lead time, the local window, the
cap. The clock the jobs read is set by the test (``services["clock"]``); the biller is respx."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import respx
from litestar import Litestar
from sqlmodel import col, select

from gateway.clock import SHANGHAI
from gateway.jobs.models import Job, JobStatus
from gateway.scenarios.utilities.autodebit import (
    CHECK_JOB,
    CLOCK_SERVICE,
    NOTICE_LEAD,
    PAY_JOB,
    in_window,
    next_window_start,
)
from gateway.scenarios.utilities.models import UtilityScheduledDebit
from tests.conftest import StaffFactory, run_jobs
from tests.core_banking.conftest import Clock, shanghai
from tests.partners.support import PartnerHandle
from tests.scenarios.support import assert_ledger_balanced, fund, open_owners
from tests.scenarios.utilities.support import (
    ACCOUNT,
    BASE,
    BILLER,
    balance,
    bill,
    events,
    jobs_due_now,
    onboard_biller,
    written_off,
)

AMOUNT = 88_00
FUNDS = 1_000_00


class FakeBiller:
    """Just enough of a biller: one bill, paid once written off."""

    def __init__(self, amount: int = AMOUNT) -> None:
        self.bill = bill(amount=amount)

    def query(self, request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=self.bill)

    def write_off(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        self.bill = bill(key=None)
        return httpx.Response(200, json=written_off(body))


@pytest.fixture
def fake() -> FakeBiller:
    return FakeBiller()


@pytest.fixture
def biller(fake: FakeBiller) -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=BILLER, assert_all_called=False) as router:
        router.get("/v1/bills", name="query").mock(side_effect=fake.query)
        router.post("/v1/write-offs", name="write_off").mock(side_effect=fake.write_off)
        yield router


async def _setup(
    client: Any, app: Litestar, staff: StaffFactory, seed: int, cap: int = 200_00
) -> tuple[PartnerHandle, str, dict[str, Any]]:
    partner = await onboard_biller(client, staff)
    [customer] = await open_owners(partner, app, "utilities", 1, seed=seed)
    await fund(client, staff, customer, FUNDS)
    resp = await partner.call(
        "POST",
        f"{BASE}/agreements",
        {
            "biller_id": partner.partner_id,
            "account_no": ACCOUNT,
            "customer_id": customer,
            "cap": cap,
            "external_ref": f"agr-{seed}",
        },
    )
    assert resp.status_code == 201, resp.text
    return partner, customer, resp.json()


# The test clock's day 0, ten days past the wall clock's: jobs are due by the wall clock
# (``jobs_due_now``), so a job the test's clock schedules for a later hour must lie ahead of the
# wall clock whenever the suite runs. Taken once, so a run across midnight keeps its days.
_DAY0 = datetime.now(SHANGHAI).date() + timedelta(days=10)


def day(n: int, hour: int, minute: int = 0) -> datetime:
    """``hour:minute`` in Shanghai on the n-th day of the test's clock."""
    start = _DAY0 + timedelta(days=n)
    return shanghai(start.year, start.month, start.day, hour, minute)


async def _run(app: Litestar, sessions: Any, clock: Clock, at: Any, kind: str) -> None:
    clock.now = at
    await jobs_due_now(sessions, kind)
    await run_jobs(app)


async def _queued(sessions: Any, kind: str) -> list[Job]:
    async with sessions() as s:
        rows = await s.scalars(
            select(Job).where(col(Job.kind) == kind, col(Job.status) == JobStatus.QUEUED.value)
        )
        return list(rows.all())


def test_the_window_is_07_to_22_in_shanghai() -> None:
    assert in_window(shanghai(2026, 12, 1, 7, 0))
    assert in_window(shanghai(2026, 12, 1, 21, 59))
    assert not in_window(shanghai(2026, 12, 1, 22, 0))
    assert not in_window(shanghai(2026, 12, 1, 6, 59))
    # 23:30 UTC is 07:30 the next day in Shanghai: inside, although late at night in UTC.
    assert in_window(datetime(2026, 12, 1, 23, 30, tzinfo=UTC))
    assert next_window_start(shanghai(2026, 12, 1, 23, 0)) == shanghai(2026, 12, 2, 7, 0)
    assert next_window_start(shanghai(2026, 12, 1, 3, 0)) == shanghai(2026, 12, 1, 7, 0)
    assert next_window_start(shanghai(2026, 12, 1, 7, 0)) == shanghai(2026, 12, 2, 7, 0)


async def test_agreements_are_created_listed_and_cancelled(
    client: Any, app: Litestar, staff: StaffFactory, biller: respx.MockRouter
) -> None:
    partner, customer, agreement = await _setup(client, app, staff, seed=950)
    other = await onboard_biller(client, staff)

    again = await partner.call(
        "POST",
        f"{BASE}/agreements",
        {"biller_id": partner.partner_id, "account_no": ACCOUNT, "customer_id": customer, "cap": 1},
    )
    foreign = await other.call(
        "POST",
        f"{BASE}/agreements",
        {"biller_id": partner.partner_id, "account_no": ACCOUNT, "customer_id": customer, "cap": 1},
    )
    no_cap = await partner.call(
        "POST",
        f"{BASE}/agreements",
        {"biller_id": partner.partner_id, "account_no": "EL-2", "customer_id": customer, "cap": 0},
    )
    listed = await partner.call("GET", f"{BASE}/agreements?status=active")
    peek = await other.call("GET", f"{BASE}/agreements/{agreement['id']}")
    cancel_foreign = await other.call("DELETE", f"{BASE}/agreements/{agreement['id']}")
    cancelled = await partner.call("DELETE", f"{BASE}/agreements/{agreement['id']}")

    assert agreement["status"] == "active"
    assert (agreement["cap"], agreement["account_no"]) == (200_00, ACCOUNT)
    assert (again.status_code, again.json()["code"]) == (409, "agreement_exists")
    assert (foreign.status_code, foreign.json()["code"]) == (404, "biller_not_found")
    assert no_cap.status_code == 422
    assert [a["id"] for a in listed.json()["data"]] == [agreement["id"]]
    assert peek.status_code == cancel_foreign.status_code == 404
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancelled"
    assert (await partner.call("GET", f"{BASE}/agreements?status=active")).json()["data"] == []


async def test_a_due_bill_is_noticed_then_paid_after_the_lead_inside_the_window(
    client: Any, app: Litestar, staff: StaffFactory, sessions: Any, biller: respx.MockRouter
) -> None:
    clock = Clock(day(0, 23, 30))
    app.state.services[CLOCK_SERVICE] = clock
    partner, customer, agreement = await _setup(client, app, staff, seed=951)

    # 23:30 local: outside the window; nothing is asked or sent, the check moves to 07:00.
    await _run(app, sessions, clock, clock.now, CHECK_JOB)
    assert biller["query"].call_count == 0
    assert [j.run_at for j in await _queued(sessions, CHECK_JOB)] == [day(1, 7, 0)]

    noticed_at = day(1, 9, 15)
    await _run(app, sessions, clock, noticed_at, CHECK_JOB)
    [notice] = await events(sessions, partner.partner_id, "utilities.")
    assert notice.type == "utilities.pre_debit_notice"
    assert notice.data | {"scheduled_debit_id": None} == {
        "agreement_id": agreement["id"],
        "scheduled_debit_id": None,
        "biller_id": partner.partner_id,
        "account_no": ACCOUNT,
        "customer_id": customer,
        "bill_key": "2026-11-EL1",
        "period": "2026-11",
        "amount": AMOUNT,
        "currency": "CNY",
        "debit_at": (noticed_at + NOTICE_LEAD).astimezone(UTC).isoformat(),
    }
    [pay_job] = await _queued(sessions, PAY_JOB)
    assert pay_job.run_at == noticed_at + NOTICE_LEAD
    # A second check the same day notices nothing new.
    await _run(app, sessions, clock, noticed_at + timedelta(minutes=5), CHECK_JOB)
    assert len(await events(sessions, partner.partner_id, "utilities.")) == 1

    # Before the lead has run: no debit, however the job got there.
    await _run(app, sessions, clock, noticed_at + timedelta(hours=23), PAY_JOB)
    assert biller["write_off"].call_count == 0
    # After the lead but past 22:00 local: still no debit; it waits for 07:00.
    await _run(app, sessions, clock, day(2, 22, 10), PAY_JOB)
    assert biller["write_off"].call_count == 0
    assert [j.run_at for j in await _queued(sessions, PAY_JOB)] == [day(3, 7, 0)]
    assert await balance(app, sessions, partner.partner_id, customer) == FUNDS

    await _run(app, sessions, clock, day(3, 7, 0), PAY_JOB)

    assert biller["write_off"].call_count == 1
    assert await balance(app, sessions, partner.partner_id, customer) == FUNDS - AMOUNT
    paid = (await partner.call("GET", f"{BASE}/payments")).json()["data"]
    assert [(p["status"], p["agreement_id"], p["amount"]) for p in paid] == [
        ("succeeded", agreement["id"], AMOUNT)
    ]
    assert [e.type for e in await events(sessions, partner.partner_id, "payment.")] == [
        "payment.succeeded"
    ]
    await assert_ledger_balanced(sessions)


async def test_a_bill_above_the_cap_is_never_debited(
    client: Any, app: Litestar, staff: StaffFactory, sessions: Any, biller: respx.MockRouter
) -> None:
    clock = Clock(day(1, 10, 0))
    app.state.services[CLOCK_SERVICE] = clock
    partner, customer, _ = await _setup(client, app, staff, seed=952, cap=AMOUNT - 1)

    await _run(app, sessions, clock, clock.now, CHECK_JOB)
    await _run(app, sessions, clock, clock.now + timedelta(days=1), PAY_JOB)

    assert await events(sessions, partner.partner_id, "utilities.") == []
    assert biller["write_off"].call_count == 0
    async with sessions() as s:
        [debit] = (await s.scalars(select(UtilityScheduledDebit))).all()
    assert (debit.status, debit.skip_reason) == ("skipped", "cap_exceeded")
    assert await balance(app, sessions, partner.partner_id, customer) == FUNDS


async def test_a_cancelled_agreement_debits_nothing_after_its_notice(
    client: Any, app: Litestar, staff: StaffFactory, sessions: Any, biller: respx.MockRouter
) -> None:
    clock = Clock(day(1, 10, 0))
    app.state.services[CLOCK_SERVICE] = clock
    partner, customer, agreement = await _setup(client, app, staff, seed=953)
    await _run(app, sessions, clock, clock.now, CHECK_JOB)
    assert len(await events(sessions, partner.partner_id, "utilities.")) == 1

    await partner.call("DELETE", f"{BASE}/agreements/{agreement['id']}")
    await _run(app, sessions, clock, clock.now + timedelta(days=1), PAY_JOB)

    assert biller["write_off"].call_count == 0
    assert await balance(app, sessions, partner.partner_id, customer) == FUNDS
    async with sessions() as s:
        [debit] = (await s.scalars(select(UtilityScheduledDebit))).all()
    assert (debit.status, debit.skip_reason) == ("skipped", "agreement_cancelled")


async def test_a_biller_down_defers_the_check_by_an_hour_and_the_chain_goes_on(
    client: Any, app: Litestar, staff: StaffFactory, sessions: Any, biller: respx.MockRouter
) -> None:
    clock = Clock(day(1, 10, 0))
    app.state.services[CLOCK_SERVICE] = clock
    partner, _, _ = await _setup(client, app, staff, seed=954)
    biller["query"].mock(return_value=httpx.Response(503))

    await _run(app, sessions, clock, clock.now, CHECK_JOB)

    assert await events(sessions, partner.partner_id, "utilities.") == []
    assert [j.run_at for j in await _queued(sessions, CHECK_JOB)] == [day(1, 11, 0)]

    biller["query"].mock(side_effect=FakeBiller().query)
    await _run(app, sessions, clock, day(1, 11, 0), CHECK_JOB)

    assert [e.type for e in await events(sessions, partner.partner_id, "utilities.")] == [
        "utilities.pre_debit_notice"
    ]
    assert [j.run_at for j in await _queued(sessions, CHECK_JOB)] == [day(2, 7, 0)]
