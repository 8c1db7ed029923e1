"""The sandbox biller: a small ASGI app speaking the biller protocol (docs/integration/billers.md).

``gateway sandbox-biller --port N`` serves it. It holds its bills in process memory (it plays
one biller's own system; nothing of the gateway's lives here). For an account number it has not
been told about it answers a deterministic unpaid bill of at most ¥500, so demos and outside
integrations work without seeding; account numbers starting ``404`` do not exist. ``/sandbox/``
endpoints set specific bills and make the next calls fail, hang or answer slowly.
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Annotated, Any, Literal, cast

import msgspec
from litestar import Litestar, Request, Response, delete, get, post, put
from litestar.params import FromPath, FromQuery, JSONBody

from gateway.clock import SHANGHAI, business_date_of
from gateway.db import utcnow
from gateway.errors import handle_exception, problem_response
from gateway.scenarios.utilities.protocol import (
    BillAnswer,
    BillKey,
    Period,
    WriteOffAnswer,
    WriteOffCreate,
)
from gateway.scenarios.utilities.reconciliation import render_file
from gateway.schemas import Strict

MAX_DEFAULT_BILL = 500_00
_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
_GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平"
Operation = Literal["query", "write_off", "status", "file", "any"]


@dataclass(slots=True)
class _Bill:
    holder_name: str
    bill_key: str | None
    amount_due: int
    period: str | None


@dataclass(slots=True)
class _Fault:
    operation: Operation
    mode: str
    times: int
    seconds: float
    code: str


@dataclass(slots=True)
class BillerState:
    """Everything the sandbox biller knows; one per app."""

    bills: dict[str, _Bill] = field(default_factory=dict)
    write_offs: dict[str, WriteOffAnswer] = field(default_factory=dict)
    sent: dict[str, WriteOffCreate] = field(default_factory=dict)
    void: set[str] = field(default_factory=set)
    booked: list[tuple[datetime, str, str, int, str, str]] = field(default_factory=list)
    faults: list[_Fault] = field(default_factory=list)
    calls: dict[str, int] = field(default_factory=dict)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def bill(self, account_no: str) -> _Bill | None:
        if account_no.startswith("404"):
            return None
        found = self.bills.get(account_no)
        if found is None:
            found = self.bills[account_no] = default_bill(account_no)
        return found


def default_bill(account_no: str, today: date | None = None) -> _Bill:
    """The deterministic unpaid bill of an account nobody set: ¥10.00 to ¥500.00."""
    digest = hashlib.sha256(account_no.encode()).digest()
    period = f"{(today or business_date_of(utcnow())):%Y-%m}"
    amount = 10_00 + int.from_bytes(digest[:4], "big") % (MAX_DEFAULT_BILL - 10_00 + 1)
    name = _SURNAMES[digest[4] % len(_SURNAMES)] + _GIVEN[digest[5] % len(_GIVEN)]
    return _Bill(name, f"{period}-{digest[6:12].hex()}", amount, period)


class BillSet(Strict):
    amount_due: Annotated[int, msgspec.Meta(ge=0, le=10**12)]
    holder_name: Annotated[str, msgspec.Meta(min_length=1, max_length=100)] = "王伟"
    period: Period | None = None
    bill_key: BillKey | None = None


class FaultSet(Strict):
    """``error``: answer 503 without acting; ``error_after``: act, then answer 503; ``hang``:
    wait ``seconds`` without acting, then 503; ``hang_after``: act, then wait ``seconds`` and
    answer; ``slow``: wait ``seconds``, then act and answer; ``refuse``: a definite refusal
    with ``code``; ``garbage``: act, then answer a 200 that is not JSON."""

    operation: Operation
    mode: Literal["error", "error_after", "hang", "hang_after", "slow", "refuse", "garbage"]
    times: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 1
    seconds: Annotated[float, msgspec.Meta(ge=0, le=600)] = 30.0
    code: str = "bill_not_found"


def _problem(request: Request[Any, Any, Any], status: int, code: str, detail: str) -> Response[Any]:
    return problem_response(request, status, code, detail)


def _json(answer: msgspec.Struct) -> Response[Any]:
    return Response(msgspec.to_builtins(answer))


def _state(request: Request[Any, Any, Any]) -> BillerState:
    return cast(BillerState, request.app.state.biller)


def _take_fault(st: BillerState, operation: str) -> _Fault | None:
    st.calls[operation] = st.calls.get(operation, 0) + 1
    for fault in st.faults:
        if fault.operation in (operation, "any"):
            fault.times -= 1
            if fault.times <= 0:
                st.faults.remove(fault)
            return fault
    return None


async def _before(request: Request[Any, Any, Any], fault: _Fault | None) -> Response[Any] | None:
    """What a fault does before the biller acts (``None``: go on and act)."""
    if fault is None:
        return None
    if fault.mode == "error":
        return _problem(request, 503, "unavailable", "Injected failure.")
    if fault.mode == "hang":
        await asyncio.sleep(fault.seconds)
        return _problem(request, 503, "unavailable", "Injected hang.")
    if fault.mode == "slow":
        await asyncio.sleep(fault.seconds)
    return None


async def _after(
    request: Request[Any, Any, Any], fault: _Fault | None, answer: Response[Any]
) -> Response[Any]:
    """What a fault does to the answer once the biller has acted."""
    if fault is None:
        return answer
    if fault.mode == "error_after":
        return _problem(request, 503, "unavailable", "Injected failure after acting.")
    if fault.mode == "hang_after":
        await asyncio.sleep(fault.seconds)
    if fault.mode == "garbage":
        return Response(b"<html>oops</html>", status_code=200, media_type="text/html")
    return answer


def _refusal_code(st: BillerState, bill: _Bill | None, data: WriteOffCreate) -> str | None:
    if data.reference in st.void:
        return "reference_void"
    if bill is None:
        return "account_not_found"
    if bill.bill_key is None and any(
        w.bill_key == data.bill_key and w.status == "succeeded" for w in st.write_offs.values()
    ):
        return "bill_already_paid"
    if bill.bill_key != data.bill_key:
        return "bill_not_found"
    if bill.amount_due != data.amount:
        return "amount_mismatch"
    return None


def _write_off(st: BillerState, data: WriteOffCreate) -> WriteOffAnswer | None:
    """The outcome for ``data``, recorded under its reference; ``None``: the reference was used
    for another write-off."""
    recorded = st.write_offs.get(data.reference)
    if recorded is not None:
        return recorded if st.sent[data.reference] == data else None
    now = utcnow()
    bill = st.bill(data.account_no)
    code = _refusal_code(st, bill, data)
    if code is None and bill is not None:
        bill.bill_key, bill.amount_due = None, 0
        digest = hashlib.sha256(data.reference.encode()).hexdigest()[:10].upper()
        answer = WriteOffAnswer(
            reference=data.reference,
            status="succeeded",
            account_no=data.account_no,
            bill_key=data.bill_key,
            amount=data.amount,
            biller_reference=f"SBB{now:%Y%m%d}{digest}",
            written_off_at=now,
        )
        st.booked.append((now, data.reference, data.account_no, data.amount, "BANK", "pay"))
    else:
        answer = WriteOffAnswer(
            reference=data.reference,
            status="failed",
            account_no=data.account_no,
            bill_key=data.bill_key,
            amount=data.amount,
            error_code=code,
        )
    st.write_offs[data.reference] = answer
    st.sent[data.reference] = data
    return answer


@get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@get("/v1/bills")
async def query(request: Request[Any, Any, Any], account_no: FromQuery[str]) -> Response[Any]:
    st = _state(request)
    fault = _take_fault(st, "query")
    early = await _before(request, fault)
    if early is not None:
        return early
    bill = st.bill(account_no)
    if bill is None:
        return _problem(request, 404, "account_not_found", "No such account.")
    answer = BillAnswer(
        account_no=account_no,
        holder_name=bill.holder_name,
        bill_key=bill.bill_key,
        amount_due=bill.amount_due,
        period=bill.period,
    )
    return await _after(request, fault, _json(answer))


@post("/v1/write-offs", status_code=200)
async def write_off(
    request: Request[Any, Any, Any], data: JSONBody[WriteOffCreate]
) -> Response[Any]:
    st = _state(request)
    fault = _take_fault(st, "write_off")
    if fault is not None and fault.mode == "refuse":
        return _problem(request, 422, fault.code, "Injected refusal.")
    early = await _before(request, fault)
    if early is not None:
        return early
    async with st.lock:
        answer = _write_off(st, data)
    if answer is None:
        return _problem(request, 409, "reference_conflict", "The reference names another bill.")
    if answer.status == "failed":
        return await _after(
            request, fault, _problem(request, 422, str(answer.error_code), "Not written off.")
        )
    return await _after(request, fault, _json(answer))


@get("/v1/write-offs/{reference:str}")
async def write_off_status(
    request: Request[Any, Any, Any], reference: FromPath[str]
) -> Response[Any]:
    st = _state(request)
    fault = _take_fault(st, "status")
    early = await _before(request, fault)
    if early is not None:
        return early
    async with st.lock:
        recorded = st.write_offs.get(reference)
        if recorded is None:
            st.void.add(reference)  # a late write-off under it is now refused
    if recorded is None:
        return _problem(request, 404, "reference_not_found", "Nothing under that reference.")
    return await _after(request, fault, _json(recorded))


@get("/v1/reconciliation-files/{day:str}", media_type="text/plain")
async def reconciliation_file(request: Request[Any, Any, Any], day: FromPath[str]) -> Response[Any]:
    st = _state(request)
    fault = _take_fault(st, "file")
    early = await _before(request, fault)
    if early is not None:
        return early
    try:
        wanted = date.fromisoformat(day)
    except ValueError:
        return _problem(request, 404, "file_not_found", "No file for that date.")
    rows = [r for r in st.booked if r[0].astimezone(SHANGHAI).date() == wanted]
    return await _after(request, fault, Response(render_file(rows), media_type="text/plain"))


@put("/sandbox/bills/{account_no:str}")
async def set_bill(
    request: Request[Any, Any, Any], account_no: FromPath[str], data: JSONBody[BillSet]
) -> dict[str, Any]:
    period = data.period or f"{business_date_of(utcnow()):%Y-%m}"
    key = data.bill_key or f"{period}-{hashlib.sha256(account_no.encode()).hexdigest()[:12]}"
    due = data.amount_due > 0
    _state(request).bills[account_no] = _Bill(
        data.holder_name, key if due else None, data.amount_due, period if due else None
    )
    return {"account_no": account_no, "bill_key": key if due else None}


@post("/sandbox/faults", status_code=201)
async def add_fault(request: Request[Any, Any, Any], data: JSONBody[FaultSet]) -> dict[str, Any]:
    st = _state(request)
    st.faults.append(_Fault(data.operation, data.mode, data.times, data.seconds, data.code))
    return {"queued": len(st.faults)}


@delete("/sandbox/faults")
async def clear_faults(request: Request[Any, Any, Any]) -> None:
    _state(request).faults.clear()


@get("/sandbox/calls")
async def calls(request: Request[Any, Any, Any]) -> dict[str, int]:
    """How many calls of each operation the biller received (for tests and demos)."""
    return dict(_state(request).calls)


def create_sandbox_biller_app(state: BillerState | None = None) -> Litestar:
    """The sandbox biller, its bills in ``state`` (a fresh one by default)."""
    app = Litestar(
        route_handlers=[
            health,
            query,
            write_off,
            write_off_status,
            reconciliation_file,
            set_bill,
            add_fault,
            clear_faults,
            calls,
        ],
        exception_handlers={Exception: handle_exception},
        openapi_config=None,
        debug=False,
    )
    app.state.biller = state or BillerState()
    return app
