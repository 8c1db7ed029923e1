"""The sandbox core's rules: idempotent references, funds, freezes, Class II caps on the
Asia/Shanghai calendar, internal accounts, and the caller owning the transaction."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from stdnum import luhn

from gateway.core_banking import (
    CoreBankingRejected,
    ErrorCode,
    MoneyResult,
    MoneyStatus,
    ReferenceConflict,
    SandboxCore,
    fund_account,
)
from gateway.core_banking.models import SandboxMovement
from tests.core_banking.conftest import Clock, person, shanghai

YUAN = 100


async def _customer(core: SandboxCore, n: int, *, funds: int = 0, bound: str | None = None) -> str:
    opened = await core.open_account(
        reference=f"open-{n}",
        customer_ref=f"cus_{n}",
        name="张三",
        id_number_hash=person(n),
        bound_account_no=bound,
    )
    if funds:
        assert (
            await core.deposit(reference=f"fund-{n}", account_no=opened.account_no, amount=funds)
        ).ok
    return opened.account_no


async def _merchant(core: SandboxCore, name: str = "物业公司结算户") -> str:
    return (await core.open_internal_account(reference=f"int-{name}", name=name)).account_no


async def test_account_numbers_are_19_digit_luhn_and_openings_are_idempotent(
    session: AsyncSession,
) -> None:
    core = SandboxCore(session)
    first = await core.open_account(
        reference="open-1", customer_ref="cus_1", name="张三", id_number_hash=person(1)
    )
    assert first.status == "opened"
    assert len(first.account_no) == 19
    assert first.account_no.startswith("6222")
    assert luhn.is_valid(first.account_no)

    again = await core.open_account(
        reference="open-1", customer_ref="cus_1", name="张三", id_number_hash=person(1)
    )
    assert again == first
    same_person = await core.open_account(
        reference="open-1b", customer_ref="cus_1", name="张三", id_number_hash=person(1)
    )
    assert (same_person.status, same_person.account_no) == ("existing", first.account_no)
    with pytest.raises(ReferenceConflict):
        await core.open_account(
            reference="open-1", customer_ref="cus_2", name="李四", id_number_hash=person(2)
        )

    internal = await core.open_internal_account(reference="int-1", name="加油站结算户")
    assert internal.account_no.startswith("9100")
    assert luhn.is_valid(internal.account_no)
    state = await core.account(first.account_no)
    assert (state.kind, state.status, state.balance) == ("personal_class_ii", "active", 0)


async def test_a_re_sent_reference_moves_money_once(session: AsyncSession) -> None:
    core = SandboxCore(session)
    account = await _customer(core, 1, funds=500 * YUAN)

    first = await core.debit(reference="pay-1", account_no=account, amount=120 * YUAN, purpose="x")
    again = await core.debit(reference="pay-1", account_no=account, amount=120 * YUAN, purpose="x")

    assert first.ok
    assert first.status is MoneyStatus.SUCCEEDED
    assert first.core_reference is not None
    assert again == first
    assert await core.get_transfer("pay-1") == first
    assert await core.get_transfer("never-sent") is None
    assert (await core.account(account)).balance == 380 * YUAN
    with pytest.raises(ReferenceConflict):
        await core.debit(reference="pay-1", account_no=account, amount=1, purpose="x")
    with pytest.raises(ReferenceConflict):
        await core.credit(reference="pay-1", account_no=account, amount=120 * YUAN, purpose="x")


async def test_the_database_refuses_a_second_movement_with_one_reference(
    session: AsyncSession,
) -> None:
    await _customer(SandboxCore(session), 1, funds=10 * YUAN)
    recorded = await session.scalar(sa.select(SandboxMovement))
    assert recorded is not None
    twin = recorded.model_dump() | {"core_reference": "SBX-TWIN"}
    with pytest.raises(IntegrityError, match="reference"):
        await session.execute(sa.insert(SandboxMovement).values(twin))
    await session.rollback()


async def test_insufficient_funds_is_a_recorded_result(session: AsyncSession) -> None:
    core = SandboxCore(session)
    account = await _customer(core, 1, funds=50 * YUAN)

    refused = await core.debit(reference="pay-1", account_no=account, amount=80 * YUAN, purpose="")

    assert not refused.ok
    assert refused.status is MoneyStatus.FAILED
    assert refused.error_code is ErrorCode.INSUFFICIENT_FUNDS
    assert (await core.account(account)).balance == 50 * YUAN
    # The refusal is the reference's outcome for good: funding later does not revive it.
    await core.deposit(reference="top-up", account_no=account, amount=100 * YUAN)
    assert await core.debit(
        reference="pay-1", account_no=account, amount=80 * YUAN, purpose=""
    ) == (refused)
    assert await core.get_transfer("pay-1") == refused


async def test_a_frozen_account_takes_credits_but_pays_nothing(session: AsyncSession) -> None:
    core = SandboxCore(session)
    account = await _customer(core, 1, funds=100 * YUAN)
    merchant = await _merchant(core)
    assert (await core.freeze(account)).status == "frozen"

    debit = await core.debit(reference="d", account_no=account, amount=1, purpose="")
    transfer = await core.transfer(
        reference="t", from_account=account, to_account=merchant, amount=1, purpose=""
    )
    refund = await core.credit(reference="c", account_no=account, amount=5 * YUAN, purpose="")

    assert debit.error_code is transfer.error_code is ErrorCode.ACCOUNT_FROZEN
    assert refund.ok
    assert (await core.account(account)).balance == 105 * YUAN
    await core.unfreeze(account)
    assert (await core.debit(reference="d2", account_no=account, amount=1, purpose="")).ok


async def test_unknown_accounts_are_refused_and_recorded(session: AsyncSession) -> None:
    core = SandboxCore(session)
    account = await _customer(core, 1, funds=10 * YUAN)
    missing = "6222000000000000000"

    debit = await core.debit(reference="d", account_no=missing, amount=1, purpose="")
    transfer = await core.transfer(
        reference="t", from_account=account, to_account=missing, amount=1, purpose=""
    )

    assert debit.error_code is transfer.error_code is ErrorCode.ACCOUNT_NOT_FOUND
    assert await core.get_transfer("t") == transfer
    assert (await core.account(account)).balance == 10 * YUAN


async def test_transfers_move_both_balances_and_refuse_nonsense(session: AsyncSession) -> None:
    core = SandboxCore(session)
    account = await _customer(core, 1, funds=100 * YUAN)
    merchant = await _merchant(core)

    paid = await core.transfer(
        reference="t", from_account=account, to_account=merchant, amount=30 * YUAN, purpose="物业费"
    )

    assert paid.ok
    assert (await core.account(account)).balance == 70 * YUAN
    assert (await core.account(merchant)).balance == 30 * YUAN
    with pytest.raises(CoreBankingRejected) as same:
        await core.transfer(
            reference="t2", from_account=account, to_account=account, amount=1, purpose=""
        )
    assert same.value.reason == "same_account"
    with pytest.raises(CoreBankingRejected) as zero:
        await core.debit(reference="d", account_no=account, amount=0, purpose="")
    assert zero.value.reason == "invalid_amount"


async def test_the_daily_cap_resets_at_shanghai_midnight_not_utc(session: AsyncSession) -> None:
    clock = Clock(shanghai(2026, 3, 1, 23, 30))  # 15:30 UTC
    core = SandboxCore(session, clock=clock)
    account = await _customer(core, 1, funds=30_000 * YUAN)
    merchant = await _merchant(core)

    assert (await core.debit(reference="a", account_no=account, amount=6_000 * YUAN, purpose="")).ok
    paid = await core.transfer(
        reference="b", from_account=account, to_account=merchant, amount=4_000 * YUAN, purpose=""
    )
    assert paid.ok  # exactly ¥10,000 today
    clock.now = shanghai(2026, 3, 1, 23, 59)
    over = await core.debit(reference="c", account_no=account, amount=1, purpose="")
    assert over.error_code is ErrorCode.LIMIT_EXCEEDED

    clock.now = shanghai(2026, 3, 2, 0, 10)  # 16:10 UTC: still 1 March in UTC
    assert (
        await core.debit(reference="d", account_no=account, amount=10_000 * YUAN, purpose="")
    ).ok
    assert (await core.account(account)).balance == 10_000 * YUAN


async def test_the_yearly_cap_resets_on_the_shanghai_new_year(session: AsyncSession) -> None:
    clock = Clock(shanghai(2026, 12, 1))
    core = SandboxCore(session, clock=clock)
    account = await _customer(core, 1, funds=250_000 * YUAN)
    for day in range(20):  # ¥10,000 a day for 20 days: the year's ¥200,000
        clock.now = shanghai(2026, 12, 1) + timedelta(days=day)
        paid = await core.debit(
            reference=f"day-{day}", account_no=account, amount=10_000 * YUAN, purpose=""
        )
        assert paid.ok, day

    clock.now = shanghai(2026, 12, 31, 23, 50)
    refused = await core.debit(reference="late", account_no=account, amount=1, purpose="")
    assert refused.error_code is ErrorCode.LIMIT_EXCEEDED
    clock.now = shanghai(2027, 1, 1, 0, 5)  # 31 December 16:05 UTC
    assert (await core.debit(reference="new-year", account_no=account, amount=1, purpose="")).ok


async def test_transfers_to_the_bound_account_are_outside_the_caps(session: AsyncSession) -> None:
    bound = "6217000000000000001"  # the person's Class I account at another bank
    core = SandboxCore(session)
    account = await _customer(core, 1, funds=30_000 * YUAN, bound=bound)
    merchant = await _merchant(core)

    home = await core.transfer(
        reference="home", from_account=account, to_account=bound, amount=15_000 * YUAN, purpose=""
    )
    shop = await core.transfer(
        reference="shop",
        from_account=account,
        to_account=merchant,
        amount=10_001 * YUAN,
        purpose="",
    )

    assert home.ok  # left the bank, uncapped
    assert shop.error_code is ErrorCode.LIMIT_EXCEEDED
    assert (await core.account(account)).balance == 15_000 * YUAN


async def test_internal_accounts_have_no_caps(session: AsyncSession) -> None:
    core = SandboxCore(session)
    settlement = await _merchant(core, "结算户")
    escrow = await _merchant(core, "监管户")
    await core.deposit(reference="seed", account_no=settlement, amount=1_000_000 * YUAN)

    moved = await core.transfer(
        reference="big",
        from_account=settlement,
        to_account=escrow,
        amount=500_000 * YUAN,
        purpose="",
    )
    debited = await core.debit(
        reference="out", account_no=settlement, amount=400_000 * YUAN, purpose=""
    )

    assert moved.ok
    assert debited.ok
    assert (await core.account(settlement)).balance == 100_000 * YUAN


async def test_the_sandbox_only_flushes_the_caller_commits(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions() as session:
        core = SandboxCore(session)
        account = await _customer(core, 1, funds=10 * YUAN)
        await session.rollback()
    async with sessions() as session:
        assert await SandboxCore(session).get_transfer("fund-1") is None
        assert await session.scalar(sa.select(sa.func.count()).select_from(SandboxMovement)) == 0
    async with sessions() as session:
        result = await fund_account(session, account_no=account, amount=1, reference="r")
        assert result.error_code is ErrorCode.ACCOUNT_NOT_FOUND  # the opening rolled back too


async def test_concurrent_debits_never_overdraw(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions() as session:
        account = await _customer(SandboxCore(session), 1, funds=100 * YUAN)
        await session.commit()

    async def pay(reference: str) -> MoneyResult:
        async with sessions() as session:
            result = await SandboxCore(session).debit(
                reference=reference, account_no=account, amount=80 * YUAN, purpose=""
            )
            await session.commit()
            return result

    results = await asyncio.gather(pay("p1"), pay("p2"), pay("p1"))

    outcomes = {r.reference: r for r in results}
    assert results[0] == results[2]  # one reference, one outcome, however it raced
    assert sorted(r.ok for r in outcomes.values()) == [False, True]
    assert {r.error_code for r in outcomes.values()} == {None, ErrorCode.INSUFFICIENT_FUNDS}
    async with sessions() as session:
        assert (await SandboxCore(session).account(account)).balance == 20 * YUAN
