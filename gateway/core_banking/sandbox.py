"""The sandbox core: the default core bank, kept in the gateway's own database (DESIGN §2, §6).

It implements :class:`~gateway.core_banking.port.CoreBanking` inside the caller's transaction (it
only flushes; the caller commits), plus what only a sandbox offers: bank-side internal accounts,
deposits for demos and tests, freezing, and a balance query. It enforces what a real core would:
idempotent references (a unique constraint), balances that never go negative (a check
constraint), frozen accounts, and the Class II day and year caps on the Asia/Shanghai calendar.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime
from typing import Any, Literal

import msgspec
import sqlalchemy as sa
import structlog
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select
from stdnum import luhn

from gateway.clock import business_date_of
from gateway.core_banking.models import (
    AccountKind,
    AccountStatus,
    MovementKind,
    SandboxAccount,
    SandboxMovement,
)
from gateway.core_banking.port import (
    CLASS_II_DAILY_LIMIT,
    CLASS_II_YEARLY_LIMIT,
    AccountResult,
    CoreBankingRejected,
    CoreBankingUnavailable,
    ErrorCode,
    MoneyResult,
    MoneyStatus,
    ReferenceConflict,
    check_amount,
)
from gateway.core_banking.schemas import AccountOpen
from gateway.db import bulk_insert, insert_once, one_of, table_of, utcnow
from gateway.errors import NotFound
from gateway.money import Fen
from gateway.pii import mask_name

PERSONAL_PREFIX = "6222"
INTERNAL_PREFIX = "9100"
DEPOSIT_PURPOSE = "sandbox deposit"
log = structlog.get_logger(__name__)
Instruction = tuple[str, str | None, str | None, Fen]  # kind, from, to, amount

# The money path's statements, built once: every payment runs them, and building a statement
# costs more than its round trip (docs/performance.md). Rows come back as Core rows, read by
# column name like the models.
_ACCOUNTS = table_of(SandboxAccount)
_MOVEMENTS = table_of(SandboxMovement)
_MOVEMENT = sa.select(_MOVEMENTS).where(_MOVEMENTS.c.reference == sa.bindparam("reference"))
_LOCK = (
    sa.update(_ACCOUNTS)
    .where(_ACCOUNTS.c.account_no == sa.bindparam("account"))
    .values(version=_ACCOUNTS.c.version + 1)
    .returning(*_ACCOUNTS.c)
)
_ADD = (
    sa.update(_ACCOUNTS)
    .where(_ACCOUNTS.c.account_no == sa.bindparam("account"))
    .values(balance=_ACCOUNTS.c.balance + sa.bindparam("delta"), updated_at=sa.bindparam("now"))
)


class AccountState(msgspec.Struct, frozen=True, kw_only=True):
    """What the sandbox's balance query answers."""

    account_no: str
    kind: AccountKind
    status: AccountStatus
    balance: Fen
    currency: Literal["CNY"] = "CNY"


class SandboxAccountNotFound(NotFound):
    code = "account_not_found"


def new_account_no(prefix: str) -> str:
    """A 19-digit account number: 4-digit prefix, 14 random digits, a Luhn check digit."""
    body = f"{prefix}{secrets.randbelow(10**14):014d}"
    return body + luhn.calc_check_digit(body)


def _result(movement: sa.Row[Any]) -> MoneyResult:
    if movement.error_code is None:
        return MoneyResult.succeeded(movement.reference, movement.amount, movement.core_reference)
    return MoneyResult.failed(
        movement.reference,
        movement.amount,
        ErrorCode(movement.error_code),
        movement.core_reference,
    )


def _state(account: SandboxAccount) -> AccountState:
    return AccountState(
        account_no=account.account_no,
        kind=AccountKind(account.kind),
        status=AccountStatus(account.status),
        balance=account.balance,
    )


class SandboxCore:
    """The core bank on one session; a fresh instance per unit of work (STYLE 4).

    ``clock`` exists so tests can stand on either side of an Asia/Shanghai midnight.
    """

    def __init__(self, session: AsyncSession, *, clock: Callable[[], datetime] = utcnow) -> None:
        self._session = session
        self._clock = clock

    @property
    def _dialect(self) -> str:
        return self._session.get_bind().dialect.name

    # -- accounts ---------------------------------------------------------------------------

    async def open_account(
        self,
        *,
        reference: str,
        customer_ref: str,
        name: str,
        id_number_hash: str,
        bound_account_no: str | None = None,
    ) -> AccountResult:
        """Open a personal Class II account, or answer ``existing`` with the one the person
        already holds (one per person per bank, enforced by a unique index)."""
        values = {
            "reference": reference,
            "kind": AccountKind.PERSONAL_CLASS_II.value,
            "customer_ref": customer_ref,
            "holder_name_masked": mask_name(name),
            "id_number_hash": id_number_hash,
            "bound_account_no": bound_account_no,
        }
        return await self._open(values, PERSONAL_PREFIX)

    async def open_accounts(self, openings: Sequence[AccountOpen]) -> list[AccountResult]:
        """``open_account`` for a chunk in three statements: one look-up of the references and
        people already known, one multi-row insert of the new accounts, and (only if a
        concurrent opening won a row meanwhile) the single-row path for the rows it skipped."""
        if not openings:
            return []
        refs = [o.reference for o in openings]
        people = [o.id_number_hash for o in openings]
        dialect = self._session.get_bind().dialect
        known = (
            await self._session.execute(
                sa.select(
                    col(SandboxAccount.account_no),
                    col(SandboxAccount.reference),
                    col(SandboxAccount.kind),
                    col(SandboxAccount.customer_ref),
                    col(SandboxAccount.id_number_hash),
                ).where(
                    sa.or_(
                        one_of(dialect, col(SandboxAccount.reference), refs),
                        one_of(dialect, col(SandboxAccount.id_number_hash), people),
                    )
                )
            )
        ).all()
        by_reference = {k.reference: k for k in known}
        by_person = {k.id_number_hash: k.account_no for k in known if k.id_number_hash}
        now = self._clock()
        results: list[AccountResult | None] = []
        rows: dict[str, dict[str, Any]] = {}
        for o in openings:
            replay = by_reference.get(o.reference)
            if replay is not None:
                ours = (AccountKind.PERSONAL_CLASS_II.value, o.customer_ref, o.id_number_hash)
                if (replay.kind, replay.customer_ref, replay.id_number_hash) != ours:
                    raise ReferenceConflict(f"Reference {o.reference!r} opened another account.")
                results.append(
                    AccountResult(
                        reference=o.reference, account_no=replay.account_no, status="opened"
                    )
                )
                continue
            holder = by_person.get(o.id_number_hash)
            if holder is not None:
                results.append(
                    AccountResult(reference=o.reference, account_no=holder, status="existing")
                )
                continue
            account_no = new_account_no(PERSONAL_PREFIX)
            by_person[o.id_number_hash] = account_no  # the same person twice in one call
            rows[o.reference] = {
                "account_no": account_no,
                "reference": o.reference,
                "kind": AccountKind.PERSONAL_CLASS_II.value,
                "status": AccountStatus.ACTIVE.value,
                "customer_ref": o.customer_ref,
                "holder_name_masked": mask_name(o.name),
                "id_number_hash": o.id_number_hash,
                "bound_account_no": o.bound_account_no,
                "balance": 0,
                "version": 0,
                "created_at": now,
                "updated_at": now,
            }
            results.append(None)
        inserted: set[str] = set()
        if rows:
            insert = bulk_insert(
                dialect,
                table_of(SandboxAccount),
                list(rows.values()),
                skip_conflicts=True,
                returning="reference",
            )
            inserted = set((await self._session.scalars(*insert)).all())
        answers: list[AccountResult] = []
        for o, result in zip(openings, results, strict=True):
            if result is not None:
                answers.append(result)
            elif o.reference in inserted:
                answers.append(
                    AccountResult(
                        reference=o.reference,
                        account_no=rows[o.reference]["account_no"],
                        status="opened",
                    )
                )
            else:  # a concurrent twin won the reference or the person: ask again, one by one
                answers.append(
                    await self.open_account(
                        reference=o.reference,
                        customer_ref=o.customer_ref,
                        name=o.name,
                        id_number_hash=o.id_number_hash,
                        bound_account_no=o.bound_account_no,
                    )
                )
        log.info("sandbox_core.accounts_opened", asked=len(openings), opened=len(inserted))
        return answers

    async def open_internal_account(self, *, reference: str, name: str) -> AccountResult:
        """A bank-side account (a partner's settlement account, a subsidy pool): no Class II
        caps. Its name is a company's, not personal data, so it is kept as given."""
        values = {
            "reference": reference,
            "kind": AccountKind.INTERNAL.value,
            "holder_name_masked": name,
        }
        return await self._open(values, INTERNAL_PREFIX)

    async def _open(self, values: dict[str, Any], prefix: str) -> AccountResult:
        found = await self._opened(values)
        if found is not None:
            return found
        now = self._clock()
        row = values | {"account_no": new_account_no(prefix), "created_at": now, "updated_at": now}
        stmt = insert_once(self._dialect, _ACCOUNTS, returning="account_no")
        inserted = await self._session.scalar(stmt, row)
        if inserted is None:  # a concurrent twin won the reference or the person
            found = await self._opened(values)
            if found is None:  # the random account number itself clashed
                raise CoreBankingUnavailable("Account number clash; retry the same reference.")
            return found
        log.info("sandbox_core.account_opened", reference=values["reference"], kind=values["kind"])
        return AccountResult(reference=values["reference"], account_no=inserted, status="opened")

    async def _opened(self, values: dict[str, Any]) -> AccountResult | None:
        """The answer already due for this opening: a replay of its reference, or the person's
        existing account."""
        reference = values["reference"]
        by_reference = await self._session.scalar(
            select(SandboxAccount).where(col(SandboxAccount.reference) == reference)
        )
        if by_reference is not None:
            fields = ("kind", "customer_ref", "id_number_hash")
            if any(getattr(by_reference, k) != values.get(k) for k in fields):
                raise ReferenceConflict(f"Reference {reference!r} opened another account.")
            return AccountResult(
                reference=reference, account_no=by_reference.account_no, status="opened"
            )
        person = values.get("id_number_hash")
        if person is None:
            return None
        holder = await self._session.scalar(
            select(SandboxAccount).where(col(SandboxAccount.id_number_hash) == person)
        )
        if holder is None:
            return None
        return AccountResult(reference=reference, account_no=holder.account_no, status="existing")

    async def account(self, account_no: str) -> AccountState:
        """The balance query."""
        account = await self._session.scalar(
            select(SandboxAccount)
            .where(col(SandboxAccount.account_no) == account_no)
            .execution_options(populate_existing=True)
        )
        if account is None:
            raise SandboxAccountNotFound("No such sandbox account.")
        return _state(account)

    async def freeze(self, account_no: str) -> AccountState:
        return await self._set_status(account_no, AccountStatus.FROZEN)

    async def unfreeze(self, account_no: str) -> AccountState:
        return await self._set_status(account_no, AccountStatus.ACTIVE)

    async def _set_status(self, account_no: str, status: AccountStatus) -> AccountState:
        await self._session.execute(
            sa.update(SandboxAccount)
            .where(col(SandboxAccount.account_no) == account_no)
            .values(status=status.value, updated_at=self._clock())
            .execution_options(synchronize_session=False)
        )
        state = await self.account(account_no)
        log.info("sandbox_core.account_status_set", account_no=account_no, status=status.value)
        return state

    # -- money ------------------------------------------------------------------------------

    async def debit(
        self, *, reference: str, account_no: str, amount: Fen, purpose: str
    ) -> MoneyResult:
        return await self._move(MovementKind.DEBIT, reference, account_no, None, amount, purpose)

    async def credit(
        self, *, reference: str, account_no: str, amount: Fen, purpose: str
    ) -> MoneyResult:
        return await self._move(MovementKind.CREDIT, reference, None, account_no, amount, purpose)

    async def transfer(
        self, *, reference: str, from_account: str, to_account: str, amount: Fen, purpose: str
    ) -> MoneyResult:
        if from_account == to_account:
            raise CoreBankingRejected("A transfer needs two accounts.", reason="same_account")
        return await self._move(
            MovementKind.TRANSFER, reference, from_account, to_account, amount, purpose
        )

    async def deposit(self, *, reference: str, account_no: str, amount: Fen) -> MoneyResult:
        """Fund an account for demos and tests: a credit with the sandbox's deposit purpose."""
        return await self.credit(
            reference=reference, account_no=account_no, amount=amount, purpose=DEPOSIT_PURPOSE
        )

    async def get_transfer(self, reference: str) -> MoneyResult | None:
        movement = await self._movement(reference)
        return None if movement is None else _result(movement)

    async def _movement(self, reference: str) -> sa.Row[Any] | None:
        return (await self._session.execute(_MOVEMENT, {"reference": reference})).first()

    async def _move(
        self,
        kind: MovementKind,
        reference: str,
        source_no: str | None,
        target_no: str | None,
        amount: Fen,
        purpose: str,
    ) -> MoneyResult:
        check_amount(amount)
        instruction = (kind.value, source_no, target_no, amount)
        # No look-up of the reference first: a replay is rare, and the movement's insert finds it
        # (below), after which only the recorded outcome counts, whatever was computed here.
        accounts = await self._lock(n for n in (source_no, target_no) if n is not None)
        source = accounts.get(source_no or "")
        target = accounts.get(target_no or "")
        now = self._clock()
        today = business_date_of(now)
        limited = False
        error = _refusal(kind, source_no, source, target_no, target)
        if error is None and source is not None:
            limited = _counts_toward_caps(kind, source, target_no)
            if limited and await self._over_caps(source.account_no, amount, today):
                error = ErrorCode.LIMIT_EXCEEDED
            elif source.balance < amount:
                error = ErrorCode.INSUFFICIENT_FUNDS
        core_reference = f"SBX{today:%Y%m%d}{secrets.token_hex(6).upper()}"
        movement = {
            "core_reference": core_reference,
            "reference": reference,
            "kind": kind.value,
            "from_account": source_no,
            "to_account": target_no,
            "amount": amount,
            "purpose": purpose[:200],
            "status": (MoneyStatus.FAILED if error else MoneyStatus.SUCCEEDED).value,
            "error_code": error.value if error else None,
            "limited": limited and error is None,
            "business_date": today,
            "created_at": now,
        }
        if not await self._record(movement):
            # The reference was recorded before: by an earlier call (a retry) or by a concurrent
            # twin while we waited for the account lock. Its outcome stands; nothing moves now.
            twin = await self._movement(reference)
            if twin is None:
                raise CoreBankingUnavailable("Reference is being recorded; retry it.")
            return _replayed(twin, instruction)
        if error is None:
            if source is not None:
                await self._add(source.account_no, -amount, now)
            if target is not None:
                await self._add(target.account_no, amount, now)
        log.info(
            "sandbox_core.movement_recorded",
            reference=reference,
            kind=kind.value,
            amount=amount,
            status=movement["status"],
            error_code=movement["error_code"],
        )
        if error is None:
            return MoneyResult.succeeded(reference, amount, core_reference)
        return MoneyResult.failed(reference, amount, error, core_reference)

    async def _record(self, movement: dict[str, Any]) -> bool:
        """Insert unless the reference is taken; ``True`` when this call recorded it."""
        stmt = insert_once(self._dialect, _MOVEMENTS, "reference", "reference")
        recorded: str | None = await self._session.scalar(stmt, movement)
        return recorded is not None

    async def _lock(self, account_nos: Iterable[str]) -> dict[str, sa.Row[Any]]:
        """Bump each account's version, in account-number order so two transfers in opposite
        directions cannot deadlock, reading it back in the same statement: the bump holds the
        lock to commit."""
        locked: dict[str, sa.Row[Any]] = {}
        for account_no in sorted(set(account_nos)):
            account = (await self._session.execute(_LOCK, {"account": account_no})).first()
            if account is not None:
                locked[account_no] = account
        return locked

    async def _over_caps(self, account_no: str, amount: Fen, today: date) -> bool:
        """Would ``amount`` break the Class II day or year cap, counting succeeded capped
        outflows on the Asia/Shanghai calendar?"""
        row = (
            await self._session.execute(
                _SPENT,
                {"account": account_no, "today": today, "new_year": date(today.year, 1, 1)},
            )
        ).one()
        spent_today, spent_this_year = int(row[0]), int(row[1])
        return (
            spent_today + amount > CLASS_II_DAILY_LIMIT
            or spent_this_year + amount > CLASS_II_YEARLY_LIMIT
        )

    async def _add(self, account_no: str, delta: Fen, now: datetime) -> None:
        await self._session.execute(_ADD, {"account": account_no, "delta": delta, "now": now})


def _as_int(total: sa.ColumnElement[Any]) -> sa.Cast[int]:
    # PostgreSQL widens SUM(bigint) to numeric; cast back so both engines answer an int.
    return sa.cast(sa.func.coalesce(total, 0), sa.BigInteger)


def _spent() -> sa.Select[int, int]:
    """An account's succeeded capped outflows today and this year (Asia/Shanghai dates)."""
    business_date, amount = _MOVEMENTS.c.business_date, _MOVEMENTS.c.amount
    today = sa.bindparam("today", type_=sa.Date())
    day = sa.func.sum(sa.case((business_date == today, amount), else_=0))
    return sa.select(_as_int(day), _as_int(sa.func.sum(amount))).where(
        _MOVEMENTS.c.from_account == sa.bindparam("account"),
        _MOVEMENTS.c.limited.is_(True),
        business_date.between(sa.bindparam("new_year", type_=sa.Date()), today),
    )


_SPENT = _spent()


def _replayed(recorded: sa.Row[Any], instruction: Instruction) -> MoneyResult:
    """The first outcome again, if the reference is re-sent with the same instruction."""
    sent = (recorded.kind, recorded.from_account, recorded.to_account, recorded.amount)
    if sent != instruction:
        raise ReferenceConflict(f"Reference {recorded.reference!r} was used for another movement.")
    return _result(recorded)


def _counts_toward_caps(kind: MovementKind, source: sa.Row[Any], target_no: str | None) -> bool:
    """Class II caps cover spending (debits) and transfers to anything but the bound account."""
    if source.kind != AccountKind.PERSONAL_CLASS_II:
        return False
    return kind is MovementKind.DEBIT or (
        kind is MovementKind.TRANSFER and target_no != source.bound_account_no
    )


def _refusal(
    kind: MovementKind,
    source_no: str | None,
    source: sa.Row[Any] | None,
    target_no: str | None,
    target: sa.Row[Any] | None,
) -> ErrorCode | None:
    """The refusals that need no arithmetic, in the order a core checks them."""
    if source_no is not None and source is None:
        return ErrorCode.ACCOUNT_NOT_FOUND
    if source is not None and source.status == AccountStatus.FROZEN:
        return ErrorCode.ACCOUNT_FROZEN
    # A transfer to the bound account (a Class I account, usually at another bank) may leave
    # this core; any other destination must be an account here.
    leaves_bank = (
        kind is MovementKind.TRANSFER
        and source is not None
        and target_no == source.bound_account_no
    )
    if target_no is not None and target is None and not leaves_bank:
        return ErrorCode.ACCOUNT_NOT_FOUND
    return None


async def fund_account(
    session: AsyncSession, *, account_no: str, amount: Fen, reference: str
) -> MoneyResult:
    """The service behind the admin deposit route (DESIGN §6): fund a sandbox account in the
    caller's transaction. ``reference`` makes a retried request deposit once."""
    return await SandboxCore(session).deposit(
        reference=reference, account_no=account_no, amount=amount
    )
