"""Held incentives: earned while a risk case is open, journaled only once released, and
cancelled (never paid) when fraud is confirmed. The hold predicate is what risk will register."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from litestar import Litestar
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.channels.incentives import service as incentives
from tests.channels.support import milestone, seed_customer, seed_txn
from tests.conftest import StaffFactory, run_jobs
from tests.partners.support import onboard
from tests.scenarios.support import assert_ledger_balanced

T0 = datetime(2026, 9, 1, 2, 0, tzinfo=UTC)
D = timedelta(days=1)


@pytest.fixture
def open_cases() -> Any:
    """Stands in for risk: the customers and sub-channels with an open case."""
    subjects: set[str] = set()

    async def check(_s: AsyncSession, customer_id: str, sub_channel: str | None) -> bool:
        return customer_id in subjects or (sub_channel is not None and sub_channel in subjects)

    incentives.register_hold_check(check)
    yield subjects
    incentives.unregister_hold_check(check)


async def test_held_then_released_or_clawed_back(
    client: Any, app: Litestar, staff: StaffFactory, sessions: Any, open_cases: set[str]
) -> None:
    partner = await onboard(client, staff, webhook_url=None)
    pid = partner.partner_id
    open_cases.update({"risky-station"})
    async with sessions() as s:
        held_by_sub = await seed_customer(s, pid, T0, sub_channel="risky-station")
        held_by_case = await seed_customer(s, pid, T0, sub_channel="quiet")
        open_cases.add(held_by_case)
        free = await seed_customer(s, pid, T0, sub_channel="quiet")
        for cid in (held_by_sub, held_by_case, free):
            await seed_txn(s, pid, cid, 10_000, T0 + D)
        await s.commit()
    await run_jobs(app)
    async with sessions() as s:
        for cid in (held_by_sub, held_by_case):
            m = await milestone(s, cid)
            assert (m.incentive_held, m.incentive_accrued) == (2000, 0)
        assert (await milestone(s, free)).incentive_accrued == 2000
        # Still held: nothing released.
        assert await incentives.release_held(s, held_by_case) == 0
    balances = await assert_ledger_balanced(sessions)
    assert balances[f"incentive_payable:{pid}"] == -2000

    # The case on the customer closes as not fraud: its bounty is journaled now.
    open_cases.discard(held_by_case)
    async with sessions() as s:
        assert await incentives.release_held(s, held_by_case) == 2000
        assert await incentives.release_held(s, held_by_case) == 0
        m = await milestone(s, held_by_case)
        assert (m.incentive_held, m.incentive_accrued) == (0, 2000)
        # Fraud confirmed on the sub-channel's customer, after a case longer than the 90-day
        # clawback window: the held bounty is cancelled all the same, unpaid.
        confirmed = T0 + D + 120 * D
        assert await incentives.claw_back(s, held_by_sub, "fake applicant", at=confirmed) == 0
        m = await milestone(s, held_by_sub)
        assert (m.incentive_held, m.incentive_accrued, m.flagged) == (0, 0, True)
        assert [i.status for i in await incentives.incentives_of(s, held_by_sub)] == ["clawed_back"]
        await s.commit()
    balances = await assert_ledger_balanced(sessions)
    assert balances[f"incentive_payable:{pid}"] == -4000
    assert balances[f"incentive_expense:{pid}"] == 4000


async def test_an_opening_without_a_milestone_and_a_pending_payment(
    client: Any, app: Litestar, staff: StaffFactory, sessions: Any
) -> None:
    """A pending transaction is applied when it succeeds (its status change enqueues again)."""
    partner = await onboard(client, staff, webhook_url=None)
    pid = partner.partner_id
    async with sessions() as s:
        cid = await seed_customer(s, pid, T0)
        tid = await seed_txn(s, pid, cid, 10_000, T0 + D, status="pending")
        await s.commit()
    await run_jobs(app)
    async with sessions() as s:
        assert (await milestone(s, cid)).activated_at is None
        from gateway.scenarios.models import Transaction  # noqa: PLC0415

        txn = await s.get(Transaction, tid)
        assert txn is not None
        txn.status = "succeeded"
        await s.commit()
    await run_jobs(app)
    async with sessions() as s:
        m = await milestone(s, cid)
        assert (m.activated_at, m.effective_at, m.incentive_accrued) == (T0 + D, T0 + D, 2000)


async def test_out_of_order_application_gives_the_same_milestones(
    client: Any, app: Litestar, staff: StaffFactory, sessions: Any
) -> None:
    """Workers may apply a customer's transactions in any order: the effective moment is still
    when the running total, in the order things happened, reached the threshold."""
    partner = await onboard(client, staff, webhook_url=None)
    pid = partner.partner_id
    async with sessions() as s:
        cid = await seed_customer(s, pid, T0)
        first = await seed_txn(s, pid, cid, 6_000, T0 + D)
        second = await seed_txn(s, pid, cid, 5_000, T0 + 2 * D)
        late = await seed_txn(s, pid, cid, 1_000, T0 + 45 * D)
        await s.commit()
    from gateway.channels.lifecycle.service import apply_transaction  # noqa: PLC0415

    async with sessions() as s:
        for tid in (late, second, first):
            assert await apply_transaction(s, tid) is True
        await s.commit()
    await run_jobs(app)  # the queued jobs find every transaction applied already
    async with sessions() as s:
        m = await milestone(s, cid)
        assert (m.activated_at, m.effective_at) == (T0 + D, T0 + 2 * D)
        assert (m.retained_30d, m.window_amount, m.incentive_accrued) == (True, 11_000, 2000)


async def test_racing_workers_apply_each_transaction_once(
    client: Any, app: Litestar, staff: StaffFactory, sessions: Any
) -> None:
    """Several workers applying the same and different transactions of one customer at once."""
    import asyncio  # noqa: PLC0415

    from gateway.channels.lifecycle.service import apply_transaction  # noqa: PLC0415

    partner = await onboard(client, staff, webhook_url=None)
    pid = partner.partner_id
    async with sessions() as s:
        cid = await seed_customer(s, pid, T0)
        txns = [await seed_txn(s, pid, cid, 4_000, T0 + n * D) for n in (1, 2, 3)]
        await s.commit()

    async def work(tid: str) -> bool:
        async with sessions() as s:
            applied = await apply_transaction(s, tid)
            await asyncio.sleep(0.005)  # hold the locks while the others pile up
            await s.commit()
        return applied

    results = await asyncio.gather(*(work(t) for t in txns * 3))
    assert sum(results) == 3
    await run_jobs(app)
    async with sessions() as s:
        m = await milestone(s, cid)
        assert (m.window_amount, m.effective_at, m.incentive_accrued) == (12_000, T0 + 3 * D, 2000)
        assert len(await incentives.incentives_of(s, cid)) == 1
