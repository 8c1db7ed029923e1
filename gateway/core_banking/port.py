"""The core-banking port: what the gateway asks of a bank's core system (DESIGN §2).

Money never moves inside the gateway's own tables alone; it instructs the core through
:class:`CoreBanking`. Every instruction carries the caller's idempotent ``reference``: sending it
again returns the first outcome and never moves money twice. Business refusals (no funds, a frozen
account, a Class II limit) are *results* with an ``error_code``, because the caller must record
them; technical failures raise :class:`CoreBankingUnavailable`. A money call whose outcome cannot
be learned returns status ``unknown``: the caller leaves its payment pending and asks again later
with ``get_transfer(reference)`` — nothing here ever guesses.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Literal, Protocol

import msgspec

from gateway.errors import GatewayError
from gateway.money import Fen

if TYPE_CHECKING:
    from gateway.core_banking.schemas import AccountOpen

# Class II (II类户) accounts opened remotely: spending and transfers to non-bound accounts are
# capped per Asia/Shanghai calendar day and year (DESIGN §6).
CLASS_II_DAILY_LIMIT: Fen = 1_000_000
CLASS_II_YEARLY_LIMIT: Fen = 20_000_000
# Whole fen a JSON client reading numbers as doubles still gets exactly (¥90 trillion).
MAX_AMOUNT: Fen = 2**53


class MoneyStatus(StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    UNKNOWN = "unknown"


class ErrorCode(StrEnum):
    """Why the core refused a money movement; the only codes a failed result may carry."""

    INSUFFICIENT_FUNDS = "insufficient_funds"
    ACCOUNT_FROZEN = "account_frozen"
    LIMIT_EXCEEDED = "limit_exceeded"
    ACCOUNT_NOT_FOUND = "account_not_found"


PositiveFen = Annotated[int, msgspec.Meta(gt=0, le=MAX_AMOUNT)]


class MoneyResult(msgspec.Struct, frozen=True, kw_only=True):
    """The one result shape of every money movement (STYLE 6), in process and on the wire.

    ``ok`` repeats ``status == "succeeded"`` so a caller cannot mistake ``unknown`` for success;
    the constructor refuses any combination that does not hold together.
    """

    ok: bool
    status: MoneyStatus
    amount: PositiveFen
    currency: Literal["CNY"] = "CNY"
    reference: str
    core_reference: str | None = None
    error_code: ErrorCode | None = None

    def __post_init__(self) -> None:
        if self.ok != (self.status is MoneyStatus.SUCCEEDED):
            raise ValueError("ok must be true exactly when status is succeeded")
        if (self.error_code is None) == (self.status is MoneyStatus.FAILED):
            raise ValueError("error_code is set exactly when status is failed")

    @classmethod
    def succeeded(cls, reference: str, amount: Fen, core_reference: str) -> MoneyResult:
        return cls(
            ok=True,
            status=MoneyStatus.SUCCEEDED,
            amount=amount,
            reference=reference,
            core_reference=core_reference,
        )

    @classmethod
    def failed(
        cls, reference: str, amount: Fen, error_code: ErrorCode, core_reference: str | None = None
    ) -> MoneyResult:
        return cls(
            ok=False,
            status=MoneyStatus.FAILED,
            amount=amount,
            reference=reference,
            core_reference=core_reference,
            error_code=error_code,
        )

    @classmethod
    def unknown(cls, reference: str, amount: Fen) -> MoneyResult:
        return cls(ok=False, status=MoneyStatus.UNKNOWN, amount=amount, reference=reference)


class AccountResult(msgspec.Struct, frozen=True, kw_only=True):
    """An opened account; ``existing`` when the person already held one at this bank."""

    reference: str
    account_no: str
    status: Literal["opened", "existing"]


class CoreBankingUnavailable(GatewayError):
    """Technical failure (unreachable, timed out, 5xx, 429, circuit open): safe to retry with the
    same reference later, and never a statement about whether money moved."""

    status = 503
    code = "core_banking_unavailable"


class CoreBankingRejected(GatewayError):
    """The core refused the instruction itself, not the money movement: a malformed request or a
    contract breach. Retrying cannot help; one side has a bug. ``reason`` is the core's code."""

    status = 502
    code = "core_banking_rejected"

    def __init__(self, detail: str, *, reason: str) -> None:
        super().__init__(detail)
        self.reason = reason


class ReferenceConflict(CoreBankingRejected):
    """The reference was already used for a different instruction (other accounts or amount)."""

    status = 409
    code = "reference_conflict"

    def __init__(self, detail: str) -> None:
        super().__init__(detail, reason=self.code)


def check_amount(amount: Fen) -> None:
    """Refuse what is not a positive whole-fen amount before anything is sent or written."""
    if type(amount) is not int or not 0 < amount <= MAX_AMOUNT:
        raise CoreBankingRejected(
            f"Amounts are whole fen from 1 to 2^53, not {amount!r}.", reason="invalid_amount"
        )


class CoreBanking(Protocol):
    """What a core must do for the gateway; the sandbox and the HTTP client both implement it.

    Arguments are keyword-only: two account numbers side by side are too easy to swap.
    """

    async def open_account(
        self,
        *,
        reference: str,
        customer_ref: str,
        name: str,
        id_number_hash: str,
        bound_account_no: str | None = None,
    ) -> AccountResult: ...

    async def open_accounts(self, openings: Sequence[AccountOpen]) -> list[AccountResult]:
        """``open_account`` for many people at once, results in the order asked. Each opening
        keeps its own reference, so re-sending a chunk (after a crash) answers the same accounts;
        one technical failure fails the call (nothing is reported as opened that was not)."""
        ...

    async def debit(
        self, *, reference: str, account_no: str, amount: Fen, purpose: str
    ) -> MoneyResult: ...

    async def credit(
        self, *, reference: str, account_no: str, amount: Fen, purpose: str
    ) -> MoneyResult: ...

    async def transfer(
        self, *, reference: str, from_account: str, to_account: str, amount: Fen, purpose: str
    ) -> MoneyResult: ...

    async def get_transfer(self, reference: str) -> MoneyResult | None:
        """The recorded outcome of any movement (debit, credit, transfer) sent with
        ``reference``, or ``None`` when the core has none."""
        ...
