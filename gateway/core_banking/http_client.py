"""The core-banking port over HTTP: one ``httpx.AsyncClient`` for the bank's core (STYLE 5).

Every attempt passes the circuit breaker. Connection errors, timeouts, 5xx and 429 are technical
and retried with the same reference (the core deduplicates it) after a capped back-off. A 422 with
a business code is a failed result; any other 4xx is a refusal (:class:`CoreBankingRejected`).

When a money call runs out of attempts after a request may have reached the core, the client asks
``get_transfer(reference)``; if that cannot answer either, the result is status ``unknown``. If no
attempt reached the core (connection refused, circuit open) it raises
:class:`CoreBankingUnavailable` instead: nothing moved, and "unknown" would only hold the caller up.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import TypeVar
from urllib.parse import quote

import httpx
import msgspec
import structlog

from gateway.core_banking.breaker import CircuitBreaker, CircuitOpen
from gateway.core_banking.port import (
    AccountResult,
    CoreBankingRejected,
    CoreBankingUnavailable,
    ErrorCode,
    MoneyResult,
    ReferenceConflict,
    check_amount,
)
from gateway.core_banking.schemas import AccountOpen, MoneyMove, TransferCreate
from gateway.money import Fen

T = TypeVar("T")
DEFAULT_TIMEOUT = httpx.Timeout(10.0, connect=3.0, pool=3.0)
# Openings in flight at once for ``open_accounts``: enough to hide the round trip, well under
# the pool's connection limit so single calls from other requests still get a connection.
DEFAULT_CONCURRENCY = 16
_BUSINESS_CODES = frozenset(code.value for code in ErrorCode)
_JSON = {"content-type": "application/json"}
log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts: int = 3
    backoff: float = 0.2  # seconds before the second attempt, doubling after
    max_backoff: float = 2.0

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """Seconds to wait after failed ``attempt``: the core's ``Retry-After`` when it gave one,
        else exponential back-off with jitter (so replicas do not retry in step), capped."""
        if retry_after is not None:
            return min(retry_after, self.max_backoff)
        base = min(self.backoff * 2.0 ** (attempt - 1), self.max_backoff)
        return base * (0.5 + random.random() / 2)  # noqa: S311  (jitter, not security)


class _AttemptFailed(CoreBankingUnavailable):
    """One attempt's technical failure; ``reached`` when the core may have acted on it."""

    def __init__(self, detail: str, *, reached: bool, retry_after: float | None = None) -> None:
        super().__init__(detail)
        self.reached = reached
        self.retry_after = retry_after


class _GaveUp(CoreBankingUnavailable):
    """Every attempt failed (or the circuit is open); ``reached`` as for one attempt."""

    def __init__(self, detail: str, *, reached: bool) -> None:
        super().__init__(detail)
        self.reached = reached


class _Unreadable(Exception):
    """A 2xx answer that is not the answer to what was sent."""


class _Problem(msgspec.Struct):
    code: str = ""
    core_reference: str | None = None


class HttpCoreBanking:
    """The port for ``GATEWAY_CORE_BANKING_URL``. Long-lived on purpose: it holds the connection
    pool and the breaker, which only work when shared by every call of the process."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        breaker: CircuitBreaker | None = None,
        retry: RetryPolicy | None = None,
        concurrency: int = DEFAULT_CONCURRENCY,
    ) -> None:
        self._client = client
        self._breaker = breaker or CircuitBreaker()
        self._retry = retry or RetryPolicy()
        self._concurrency = concurrency

    async def open_account(
        self,
        *,
        reference: str,
        customer_ref: str,
        name: str,
        id_number_hash: str,
        bound_account_no: str | None = None,
    ) -> AccountResult:
        body = AccountOpen(
            reference=reference,
            customer_ref=customer_ref,
            name=name,
            id_number_hash=id_number_hash,
            bound_account_no=bound_account_no,
        )
        parse = partial(_account, reference=reference)
        return await self._exchange("POST", "/v1/accounts", body, reference, parse)

    async def open_accounts(self, openings: Sequence[AccountOpen]) -> list[AccountResult]:
        """One request per account (the protocol has no bulk call), at most ``concurrency`` in
        flight on the shared pool; the first failure cancels the rest, whose references make a
        retry of the whole call safe."""
        gate = asyncio.Semaphore(self._concurrency)

        async def one(opening: AccountOpen) -> AccountResult:
            async with gate:
                parse = partial(_account, reference=opening.reference)
                return await self._exchange(
                    "POST", "/v1/accounts", opening, opening.reference, parse
                )

        try:
            async with asyncio.TaskGroup() as group:
                tasks = [group.create_task(one(o)) for o in openings]
        except ExceptionGroup as failed:  # callers handle the port's own errors, not groups
            raise failed.exceptions[0] from failed
        return [t.result() for t in tasks]

    async def debit(
        self, *, reference: str, account_no: str, amount: Fen, purpose: str
    ) -> MoneyResult:
        body = MoneyMove(reference=reference, account_no=account_no, amount=amount, purpose=purpose)
        return await self._move("/v1/debits", body, reference, amount)

    async def credit(
        self, *, reference: str, account_no: str, amount: Fen, purpose: str
    ) -> MoneyResult:
        body = MoneyMove(reference=reference, account_no=account_no, amount=amount, purpose=purpose)
        return await self._move("/v1/credits", body, reference, amount)

    async def transfer(
        self, *, reference: str, from_account: str, to_account: str, amount: Fen, purpose: str
    ) -> MoneyResult:
        body = TransferCreate(
            reference=reference,
            from_account=from_account,
            to_account=to_account,
            amount=amount,
            purpose=purpose,
        )
        return await self._move("/v1/transfers", body, reference, amount)

    async def get_transfer(self, reference: str) -> MoneyResult | None:
        path = f"/v1/movements/{quote(reference, safe='')}"
        return await self._exchange(
            "GET", path, None, reference, partial(_found, reference=reference)
        )

    async def _move(
        self, path: str, body: MoneyMove | TransferCreate, reference: str, amount: Fen
    ) -> MoneyResult:
        check_amount(amount)
        try:
            parse = partial(_money, reference=reference, amount=amount)
            result = await self._exchange("POST", path, body, reference, parse)
        except _GaveUp as e:
            if not e.reached:
                raise
            return await self._resolve(reference, amount)
        if result.amount != amount:
            raise ReferenceConflict(f"Reference {reference!r} was used for another amount.")
        return result

    async def _resolve(self, reference: str, amount: Fen) -> MoneyResult:
        """Learn what became of a money call whose answer was lost; never guess."""
        try:
            found = await self.get_transfer(reference)
        except (CoreBankingUnavailable, CoreBankingRejected) as e:
            log.error("core_banking.outcome_unknown", reference=reference, reason=e.detail)
            return MoneyResult.unknown(reference, amount)
        if found is None:
            log.error("core_banking.outcome_unknown", reference=reference, reason="not recorded")
            return MoneyResult.unknown(reference, amount)
        if found.amount != amount:
            raise ReferenceConflict(f"Reference {reference!r} was used for another amount.")
        log.info("core_banking.outcome_resolved", reference=reference, status=found.status.value)
        return found

    async def _exchange(
        self,
        method: str,
        path: str,
        body: msgspec.Struct | None,
        reference: str,
        parse: Callable[[httpx.Response], T],
    ) -> T:
        """Send with retries; raises :class:`_GaveUp` when no attempt got an answer."""
        content = None if body is None else msgspec.json.encode(body)
        attempt_once = partial(self._attempt, method, path, content, parse)
        reached = False
        attempt = 0
        while True:
            attempt += 1
            try:
                return await self._breaker.call(attempt_once)
            except CircuitOpen as e:
                raise _GaveUp(e.detail, reached=reached) from e
            except _AttemptFailed as e:
                reached = reached or e.reached
                log.warning(
                    "core_banking.attempt_failed",
                    method=method,
                    path=path,
                    reference=reference,
                    attempt=attempt,
                    reason=e.detail,
                )
                if attempt >= self._retry.attempts:
                    raise _GaveUp(e.detail, reached=reached) from e
                await asyncio.sleep(self._retry.delay(attempt, e.retry_after))

    async def _attempt(
        self,
        method: str,
        path: str,
        content: bytes | None,
        parse: Callable[[httpx.Response], T],
    ) -> T:
        try:
            response = await self._client.request(
                method, path, content=content, headers=_JSON if content is not None else None
            )
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as e:
            raise _AttemptFailed(f"core not reached: {type(e).__name__}", reached=False) from e
        except httpx.TransportError as e:
            raise _AttemptFailed(f"no answer from core: {type(e).__name__}", reached=True) from e
        status = response.status_code
        if status == 429 or status >= 500:
            # A 429 was refused before any processing; a 5xx may have moved money first.
            raise _AttemptFailed(
                f"core answered HTTP {status}", reached=status != 429, retry_after=_after(response)
            )
        try:
            return parse(response)
        except (msgspec.DecodeError, _Unreadable) as e:
            raise _AttemptFailed(f"unreadable answer (HTTP {status})", reached=True) from e


def _after(response: httpx.Response) -> float | None:
    try:
        return max(0.0, float(response.headers.get("retry-after", "")))
    except ValueError:
        return None  # absent, or an HTTP date: fall back to our own back-off


def _problem(response: httpx.Response) -> _Problem:
    try:
        return msgspec.json.decode(response.content, type=_Problem)
    except msgspec.DecodeError:
        return _Problem()


def _refusal(response: httpx.Response, problem: _Problem) -> CoreBankingRejected:
    if response.status_code == 409 and problem.code == ReferenceConflict.code:
        return ReferenceConflict("The core holds this reference for another instruction.")
    reason = problem.code or f"http_{response.status_code}"
    return CoreBankingRejected(
        f"The core refused the request (HTTP {response.status_code}, {reason}).", reason=reason
    )


def _decoded(response: httpx.Response, kind: type[T], reference: str) -> T:
    result = msgspec.json.decode(response.content, type=kind)
    if getattr(result, "reference", None) != reference:
        raise _Unreadable("the answer names another reference")
    return result


def _money(response: httpx.Response, *, reference: str, amount: Fen) -> MoneyResult:
    if response.is_success:
        return _decoded(response, MoneyResult, reference)
    problem = _problem(response)
    if response.status_code == 422 and problem.code in _BUSINESS_CODES:
        return MoneyResult.failed(
            reference, amount, ErrorCode(problem.code), problem.core_reference
        )
    raise _refusal(response, problem)


def _found(response: httpx.Response, *, reference: str) -> MoneyResult | None:
    if response.is_success:
        return _decoded(response, MoneyResult, reference)
    problem = _problem(response)
    if response.status_code == 404 and problem.code == "reference_not_found":
        return None
    raise _refusal(response, problem)


def _account(response: httpx.Response, *, reference: str) -> AccountResult:
    if response.is_success:
        return _decoded(response, AccountResult, reference)
    raise _refusal(response, _problem(response))


@contextlib.asynccontextmanager
async def connect(
    base_url: str,
    *,
    http_timeout: httpx.Timeout = DEFAULT_TIMEOUT,
    breaker: CircuitBreaker | None = None,
    retry: RetryPolicy | None = None,
) -> AsyncIterator[HttpCoreBanking]:
    """The client for ``GATEWAY_CORE_BANKING_URL``, open for the app's lifetime."""
    async with httpx.AsyncClient(
        base_url=base_url, timeout=http_timeout, headers={"accept": "application/json"}
    ) as client:
        yield HttpCoreBanking(client, breaker=breaker, retry=retry)
