"""The ledger: balanced journals, idempotent by reference, balances summed by the database."""

from __future__ import annotations

import asyncio
import secrets
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import func, select
from structlog.testing import capture_logs

from gateway.ids import has_prefix
from gateway.money import Fen
from gateway.settlement.ledger.accounts import AccountType, account, account_type
from gateway.settlement.ledger.models import LedgerEntry, LedgerJournal
from gateway.settlement.ledger.service import (
    MAX_AMOUNT,
    InvalidJournal,
    JournalConflict,
    Line,
    balance,
    balances,
    journal_lines,
    post_journal,
    trial_balance,
)

Sessions = async_sessionmaker[AsyncSession]
T0 = datetime(2025, 11, 22, 2, 0, tzinfo=UTC)  # in the past, so the default as_of (now) has it all
CUSTOMERS = account(AccountType.CUSTOMER_FUNDS)
FEES = account(AccountType.FEE_INCOME)
PAYOUTS = account(AccountType.CORE_CLEARING)
PAYABLE = account(AccountType.PARTNER_PAYABLE, "ptn_a", "community")
SUBSIDY = account(AccountType.SUBSIDY_BUDGET, "cmp_a")
PAY = "community.payment"


def payment(amount: Fen, subsidy: Fen = 0) -> list[Line]:
    """A community bill paid by the owner, part of it funded by a campaign (DESIGN §9)."""
    lines = [Line(CUSTOMERS, amount - subsidy), Line(PAYABLE, -amount)]
    return [*lines, Line(SUBSIDY, subsidy)] if subsidy else lines


async def row_counts(sessions: Sessions) -> tuple[int, int]:
    async with sessions() as session:
        journals = (await session.scalars(select(func.count()).select_from(LedgerJournal))).one()
        entries = (await session.scalars(select(func.count()).select_from(LedgerEntry))).one()
    return journals, entries


def test_account_codes_carry_exactly_their_qualifiers() -> None:
    assert PAYABLE == "partner_payable:ptn_a:community"
    assert account_type("merchant_escrow:ptn_a") is AccountType.MERCHANT_ESCROW
    for bad in ("cash", "fee_income:x", "partner_payable:ptn_a", "merchant_escrow:PTN_A", "x:"):
        with pytest.raises(ValueError, match="account"):
            account_type(bad)


async def test_a_journal_posts_its_lines_and_balances_follow(sessions: Sessions) -> None:
    async with sessions() as session:
        journal = await post_journal(
            session,
            reference="community:txn_1",
            kind=PAY,
            lines=payment(10_000, subsidy=500),
            occurred_at=T0,
            txn_id="txn_1",
            partner_id="ptn_a",
            scenario="community",
        )
        await session.commit()

    assert has_prefix(journal.id, "jnl")
    assert (journal.txn_id, journal.partner_id, journal.scenario) == ("txn_1", "ptn_a", "community")
    async with sessions() as session:
        assert await journal_lines(session, journal.id) == payment(10_000, subsidy=500)
        assert await balance(session, CUSTOMERS) == 9_500
        assert await balance(session, SUBSIDY) == 500
        assert await balance(session, PAYABLE) == -10_000
        assert await balance(session, FEES) == 0


async def test_business_date_is_the_shanghai_calendar_date(sessions: Sessions) -> None:
    async with sessions() as session:
        late = await post_journal(
            session,
            reference="r-late",
            kind=PAY,
            lines=payment(100),
            occurred_at=datetime(2026, 11, 22, 16, 0, tzinfo=UTC),  # 00:00 on the 23rd in Shanghai
        )
        early = await post_journal(
            session,
            reference="r-early",
            kind=PAY,
            lines=payment(100),
            occurred_at=datetime(2026, 11, 22, 15, 59, 59, tzinfo=UTC),
        )
    assert late.business_date == date(2026, 11, 23)
    assert early.business_date == date(2026, 11, 22)


@pytest.mark.parametrize(
    ("reference", "kind", "lines", "code"),
    [
        ("r-bad", PAY, [], "journal_too_few_lines"),
        ("r-bad", PAY, [(CUSTOMERS, 100)], "journal_too_few_lines"),
        ("r-bad", PAY, [(CUSTOMERS, 0), (PAYABLE, 0)], "journal_invalid_amount"),
        ("r-bad", PAY, [(CUSTOMERS, 100), (PAYABLE, 0), (FEES, -100)], "journal_invalid_amount"),
        ("r-bad", PAY, [(CUSTOMERS, True), (PAYABLE, -1)], "journal_invalid_amount"),
        ("r-bad", PAY, [(CUSTOMERS, 1.0), (PAYABLE, -1)], "journal_invalid_amount"),
        (
            "r-bad",
            PAY,
            [(CUSTOMERS, MAX_AMOUNT + 1), (PAYABLE, -MAX_AMOUNT - 1)],
            "journal_invalid_amount",
        ),
        ("r-bad", PAY, [(CUSTOMERS, 100), (PAYABLE, -99)], "journal_unbalanced"),
        ("r-bad", PAY, [(CUSTOMERS, 100), (PAYABLE, -100), (FEES, 1)], "journal_unbalanced"),
        ("r-bad", PAY, [("cash", 100), (PAYABLE, -100)], "journal_unknown_account"),
        ("r-bad", PAY, [("partner_payable:ptn_a", 100), (FEES, -100)], "journal_unknown_account"),
        ("r-bad", "", payment(100), "journal_invalid"),
        ("r-bad", "k" * 41, payment(100), "journal_invalid"),
        ("", PAY, payment(100), "journal_invalid"),
        ("r" * 201, PAY, payment(100), "journal_invalid"),
    ],
)
async def test_an_invalid_journal_is_refused_and_nothing_is_written(
    sessions: Sessions, reference: str, kind: str, lines: list[tuple[str, int]], code: str
) -> None:
    async with sessions() as session:
        with pytest.raises(InvalidJournal) as refused:
            await post_journal(session, reference=reference, kind=kind, lines=lines)
        await session.commit()
    assert (refused.value.status, refused.value.code) == (422, code)
    assert await row_counts(sessions) == (0, 0)


async def test_a_naive_time_is_a_programming_error(sessions: Sessions) -> None:
    async with sessions() as session:
        with pytest.raises(ValueError, match="naive"):
            await post_journal(
                session,
                reference="r-1",
                kind=PAY,
                lines=payment(1),
                occurred_at=T0.replace(tzinfo=None),
            )


async def test_reposting_a_reference_returns_the_first_journal(sessions: Sessions) -> None:
    async with sessions() as session:
        first = await post_journal(
            session, reference="r-1", kind=PAY, lines=payment(2_000, subsidy=100)
        )
        again_in_the_same_transaction = await post_journal(
            session, reference="r-1", kind=PAY, lines=payment(2_000, subsidy=100)
        )
        await session.commit()
    async with sessions() as session:
        retried = await post_journal(
            session,
            reference="r-1",
            kind=PAY,
            lines=list(reversed(payment(2_000, subsidy=100))),  # order is not part of identity
            occurred_at=T0 + timedelta(days=1),  # a retry the next day is still the same movement
        )
        await session.commit()

    assert again_in_the_same_transaction.id == first.id
    assert retried.id == first.id
    assert retried.occurred_at == first.occurred_at
    assert await row_counts(sessions) == (1, 3)


@pytest.mark.parametrize(
    ("kind", "lines"),
    [
        (PAY, payment(2_001)),
        (PAY, payment(2_000, subsidy=1)),
        ("community.refund", payment(2_000)),
    ],
)
async def test_reposting_a_reference_with_other_content_conflicts(
    sessions: Sessions, kind: str, lines: list[Line]
) -> None:
    async with sessions() as session:
        await post_journal(session, reference="r-1", kind=PAY, lines=payment(2_000))
        await session.commit()
    async with sessions() as session:
        with pytest.raises(JournalConflict) as conflict:
            await post_journal(session, reference="r-1", kind=kind, lines=lines)
        # The caller's transaction survives the conflict (no failed statement aborts it).
        await post_journal(session, reference="r-2", kind=PAY, lines=payment(5))
        await session.commit()

    assert (conflict.value.status, conflict.value.code) == (409, "journal_reference_conflict")
    assert await row_counts(sessions) == (2, 4)
    async with sessions() as session:
        assert await balance(session, PAYABLE) == -2_005


async def test_concurrent_posts_of_one_reference_write_it_once(sessions: Sessions) -> None:
    async with sessions() as first, sessions() as second:
        posted = await post_journal(first, reference="r-race", kind=PAY, lines=payment(700))
        racing = asyncio.create_task(
            post_journal(second, reference="r-race", kind=PAY, lines=payment(700))
        )
        await asyncio.sleep(0.2)
        assert not racing.done()  # waits on the first transaction's uncommitted reference
        await first.commit()
        duplicate = await racing
        await second.commit()

    assert duplicate.id == posted.id
    assert await row_counts(sessions) == (1, 2)


async def test_a_concurrent_post_with_other_lines_conflicts(sessions: Sessions) -> None:
    async with sessions() as first, sessions() as second:
        await post_journal(first, reference="r-race", kind=PAY, lines=payment(700))
        racing = asyncio.create_task(
            post_journal(second, reference="r-race", kind=PAY, lines=payment(9))
        )
        await asyncio.sleep(0.2)
        await first.commit()
        with pytest.raises(JournalConflict):
            await racing
        await second.rollback()

    assert await row_counts(sessions) == (1, 2)


async def test_posting_only_flushes_the_caller_commits(sessions: Sessions) -> None:
    async with sessions() as session:
        await post_journal(session, reference="r-1", kind=PAY, lines=payment(100))
        await session.rollback()
    assert await row_counts(sessions) == (0, 0)


async def test_balances_as_of_a_moment_include_entries_up_to_it(sessions: Sessions) -> None:
    async with sessions() as session:
        for hour, amount in enumerate((1_000, 2_000, 4_000)):
            await post_journal(
                session,
                reference=f"r-{hour}",
                kind=PAY,
                lines=payment(amount),
                occurred_at=T0 + timedelta(hours=hour),
            )
        await session.commit()

    async with sessions() as session:
        assert await balance(session, PAYABLE, as_of=T0 - timedelta(seconds=1)) == 0
        assert await balance(session, PAYABLE, as_of=T0) == -1_000
        assert await balance(session, PAYABLE, as_of=T0 + timedelta(minutes=90)) == -3_000
        assert await balance(session, PAYABLE) == -7_000
        assert await balances(session, as_of=T0 + timedelta(hours=1)) == {
            CUSTOMERS: 3_000,
            PAYABLE: -3_000,
        }
        report = await trial_balance(session, as_of=T0 + timedelta(hours=1))
    assert report.as_of == T0 + timedelta(hours=1)
    assert report.balances == {CUSTOMERS: 3_000, PAYABLE: -3_000}
    assert report.total == 0


async def test_a_prefix_selects_a_family_of_accounts_literally(sessions: Sessions) -> None:
    fuel = account(AccountType.PARTNER_PAYABLE, "ptn_a", "fuel")
    other = account(AccountType.PARTNER_PAYABLE, "ptnxa", "fuel")  # "_" is no LIKE wildcard here
    async with sessions() as session:
        await post_journal(
            session,
            reference="r-1",
            kind="fuel.payment",
            lines=[(CUSTOMERS, 600), (PAYABLE, -100), (fuel, -200), (other, -300)],
        )
        by_partner = await balances(session, prefix="partner_payable:ptn_a:")
        everything = await balances(session)
    assert by_partner == {PAYABLE: -100, fuel: -200}
    assert list(everything) == sorted(everything)
    assert everything[other] == -300


async def test_the_trial_balance_lists_non_zero_balances_and_totals_zero(
    sessions: Sessions,
) -> None:
    async with sessions() as session:
        await post_journal(session, reference="pay", kind=PAY, lines=payment(10_000))
        await post_journal(
            session,
            reference="settle",
            kind="settlement.fee",
            lines=[(PAYABLE, 30), (FEES, -30)],
        )
        await post_journal(
            session,
            reference="payout",
            kind="settlement.payout",
            lines=[(PAYABLE, 9_970), (PAYOUTS, -9_970)],
        )
        await session.commit()
        report = await trial_balance(session)

    assert report.balances == {PAYOUTS: -9_970, CUSTOMERS: 10_000, FEES: -30}  # payable is settled
    assert report.total == 0
    assert abs(report.as_of - datetime.now(UTC)) < timedelta(minutes=1)


async def test_the_trial_balance_shows_entries_written_around_the_service(
    sessions: Sessions,
) -> None:
    async with sessions() as session:
        journal = await post_journal(
            session, reference="r-1", kind=PAY, lines=payment(100), occurred_at=T0
        )
        session.add(
            LedgerEntry(journal_id=journal.id, line=3, account=FEES, amount=-5, occurred_at=T0)
        )
        await session.commit()
        with capture_logs() as logs:
            report = await trial_balance(session)
    assert report.total == -5
    assert logs[0]["event"] == "ledger.trial_balance_unbalanced"
    assert logs[0]["log_level"] == "error"


async def test_the_database_refuses_a_zero_entry(sessions: Sessions) -> None:
    async with sessions() as session:
        journal = await post_journal(session, reference="r-1", kind=PAY, lines=payment(100))
        await session.commit()
        with pytest.raises(IntegrityError, match="amount_nonzero"):
            await session.execute(
                sa.insert(LedgerEntry).values(
                    journal_id=journal.id, line=3, account=FEES, amount=0, occurred_at=T0
                )
            )


# Random journals: each is a few transfers (debit one account, credit another), so it balances by
# construction while accounts, amounts, line counts and times vary freely.
transfers = st.lists(
    st.tuples(st.integers(0, 4), st.integers(0, 4), st.integers(1, MAX_AMOUNT // 1_000)),
    min_size=1,
    max_size=4,
)
journals = st.lists(st.tuples(transfers, st.integers(0, 48)), min_size=1, max_size=6)


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(journals=journals, cut=st.integers(0, 48))
async def test_random_journals_keep_every_balance_equal_to_its_lines(
    sessions: Sessions, journals: list[tuple[list[tuple[int, int, int]], int]], cut: int
) -> None:
    partner = f"ptn_{secrets.token_hex(6)}"  # examples share a database; each gets its own accounts
    accounts = [
        account(AccountType.PARTNER_PAYABLE, partner, "fuel"),
        account(AccountType.PARTNER_PAYABLE, partner, "campus"),
        account(AccountType.MERCHANT_ESCROW, partner),
        account(AccountType.INCENTIVE_PAYABLE, partner),
        account(AccountType.SUBSIDY_BUDGET, f"cmp_{partner[4:]}"),
    ]
    posted: list[tuple[datetime, list[Line]]] = []
    async with sessions() as session:
        for n, (moves, hour) in enumerate(journals):
            lines = [
                line
                for debit, credit, amount in moves
                for line in (Line(accounts[debit], amount), Line(accounts[credit], -amount))
            ]
            occurred_at = T0 + timedelta(hours=hour)
            await post_journal(
                session,
                reference=f"{partner}:{n}",
                kind="property.test",
                lines=lines,
                occurred_at=occurred_at,
            )
            posted.append((occurred_at, lines))
        await session.commit()

    def expected(acc: str, until: datetime | None = None) -> int:
        return sum(
            line.amount
            for occurred_at, lines in posted
            if until is None or occurred_at <= until
            for line in lines
            if line.account == acc
        )

    cut_at = T0 + timedelta(hours=cut)
    async with sessions() as session:
        for acc in accounts:
            assert await balance(session, acc) == expected(acc)
            assert await balance(session, acc, as_of=cut_at) == expected(acc, cut_at)
        payables = await balances(session, prefix=f"partner_payable:{partner}:")
        report = await trial_balance(session)
        report_at_cut = await trial_balance(session, as_of=cut_at)
    assert payables == {acc: expected(acc) for acc in accounts[:2] if expected(acc)}
    assert report.total == 0
    assert report_at_cut.total == 0
    for acc in accounts:
        assert report.balances.get(acc, 0) == expected(acc)
        assert report_at_cut.balances.get(acc, 0) == expected(acc, cut_at)
