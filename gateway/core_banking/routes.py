"""Thin handlers of the standalone sandbox core: the protocol of docs/integration/core-banking.md.

``/v1/…`` is the protocol a bank's core (or its adapter) implements; ``/sandbox/…`` exists only
here, for demos and tests. Instructions answer 200 with their outcome, the same on every re-send
of the reference; a refused movement answers 422 problem+json with the business code, and is
still committed, because the refusal is the reference's recorded outcome.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any, Protocol

from litestar import Request, Response, get, post
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, JSONBody

from gateway.core_banking.port import AccountResult, MoneyResult
from gateway.core_banking.sandbox import AccountState, SandboxCore
from gateway.core_banking.schemas import (
    AccountOpen,
    DepositCreate,
    InternalAccountOpen,
    MoneyMove,
    MovementRefused,
    TransferCreate,
)
from gateway.deps import DbSession
from gateway.errors import PROBLEM_BASE, PROBLEM_JSON, NotFound, request_id_of
from gateway.money import Fen

Answer = MoneyResult | Response[MovementRefused]
# The handlers return either shape; the spec states which status carries which.
_MOVEMENT_RESPONSES = {
    200: ResponseSpec(
        data_container=MoneyResult,
        description="Succeeded; a re-sent reference answers its first outcome again.",
        generate_examples=False,
    ),
    422: ResponseSpec(
        data_container=MovementRefused,
        description="Refused by a business rule (recorded as the reference's outcome), or a "
        "request that did not validate (code validation_error).",
        media_type=PROBLEM_JSON,
        generate_examples=False,
    ),
}


def _answer(request: Request[Any, Any, Any], result: MoneyResult) -> Answer:
    if result.ok:
        return result
    code = str(result.error_code)
    status = HTTPStatus.UNPROCESSABLE_ENTITY
    body = MovementRefused(
        type=PROBLEM_BASE + code,
        title=status.phrase,
        status=status.value,
        detail=f"The core refused the movement: {code}.",
        code=code,
        request_id=request_id_of(request),
        reference=result.reference,
        core_reference=result.core_reference,
    )
    return Response(body, status_code=status.value, media_type=PROBLEM_JSON)


class _OneAccountMove(Protocol):
    """:meth:`SandboxCore.debit` or :meth:`SandboxCore.credit`: the same instruction, one way."""

    async def __call__(
        self, *, reference: str, account_no: str, amount: Fen, purpose: str
    ) -> MoneyResult: ...


async def _one_account(
    request: Request[Any, Any, Any], data: MoneyMove, move: _OneAccountMove
) -> Answer:
    result = await move(
        reference=data.reference,
        account_no=data.account_no,
        amount=data.amount,
        purpose=data.purpose,
    )
    return _answer(request, result)


@post("/v1/accounts", status_code=200, tags=["protocol"], summary="Open a Class II account")
async def open_account(data: JSONBody[AccountOpen], db_session: DbSession) -> AccountResult:
    return await SandboxCore(db_session).open_account(
        reference=data.reference,
        customer_ref=data.customer_ref,
        name=data.name,
        id_number_hash=data.id_number_hash,
        bound_account_no=data.bound_account_no,
    )


@post(
    "/v1/debits", status_code=200, tags=["protocol"], responses=_MOVEMENT_RESPONSES, summary="Debit"
)
async def debit(
    request: Request[Any, Any, Any], data: JSONBody[MoneyMove], db_session: DbSession
) -> Answer:
    return await _one_account(request, data, SandboxCore(db_session).debit)


@post(
    "/v1/credits",
    status_code=200,
    tags=["protocol"],
    responses=_MOVEMENT_RESPONSES,
    summary="Credit",
)
async def credit(
    request: Request[Any, Any, Any], data: JSONBody[MoneyMove], db_session: DbSession
) -> Answer:
    return await _one_account(request, data, SandboxCore(db_session).credit)


@post(
    "/v1/transfers",
    status_code=200,
    tags=["protocol"],
    responses=_MOVEMENT_RESPONSES,
    summary="Transfer",
)
async def transfer(
    request: Request[Any, Any, Any], data: JSONBody[TransferCreate], db_session: DbSession
) -> Answer:
    result = await SandboxCore(db_session).transfer(
        reference=data.reference,
        from_account=data.from_account,
        to_account=data.to_account,
        amount=data.amount,
        purpose=data.purpose,
    )
    return _answer(request, result)


@get(
    "/v1/movements/{reference:str}",
    tags=["protocol"],
    summary="The recorded outcome of any movement sent with this reference",
)
async def get_movement(reference: FromPath[str], db_session: DbSession) -> MoneyResult:
    result = await SandboxCore(db_session).get_transfer(reference)
    if result is None:
        raise NotFound("No movement with this reference.", code="reference_not_found")
    return result


@post("/sandbox/internal-accounts", status_code=200, tags=["sandbox"])
async def open_internal_account(
    data: JSONBody[InternalAccountOpen], db_session: DbSession
) -> AccountResult:
    return await SandboxCore(db_session).open_internal_account(
        reference=data.reference, name=data.name
    )


@post(
    "/sandbox/accounts/{account_no:str}/deposits",
    status_code=200,
    tags=["sandbox"],
    responses=_MOVEMENT_RESPONSES,
)
async def deposit(
    request: Request[Any, Any, Any],
    account_no: FromPath[str],
    data: JSONBody[DepositCreate],
    db_session: DbSession,
) -> Answer:
    result = await SandboxCore(db_session).deposit(
        reference=data.reference, account_no=account_no, amount=data.amount
    )
    return _answer(request, result)


@post("/sandbox/accounts/{account_no:str}/freeze", status_code=200, tags=["sandbox"])
async def freeze(account_no: FromPath[str], db_session: DbSession) -> AccountState:
    return await SandboxCore(db_session).freeze(account_no)


@post("/sandbox/accounts/{account_no:str}/unfreeze", status_code=200, tags=["sandbox"])
async def unfreeze(account_no: FromPath[str], db_session: DbSession) -> AccountState:
    return await SandboxCore(db_session).unfreeze(account_no)


@get("/sandbox/accounts/{account_no:str}", tags=["sandbox"], summary="Balance and status")
async def account(account_no: FromPath[str], db_session: DbSession) -> AccountState:
    return await SandboxCore(db_session).account(account_no)


@get("/health", tags=["ops"], summary="Process up")
async def health() -> dict[str, str]:
    return {"status": "ok"}


ROUTES = [
    open_account,
    debit,
    credit,
    transfer,
    get_movement,
    open_internal_account,
    deposit,
    freeze,
    unfreeze,
    account,
    health,
]
