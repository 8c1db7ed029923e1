"""The biller protocol over HTTP: one ``httpx.AsyncClient`` per biller (STYLE 5).

Modelled on the core-banking client (:mod:`gateway.core_banking.http_client`) and reusing its
:class:`CircuitBreaker` and :class:`RetryPolicy`. Every attempt passes the biller's own breaker.
Connection errors, timeouts, 5xx, 429 and unreadable answers are technical and retried with the
same reference (the biller deduplicates it); a 4xx with a protocol code is the biller's answer.
A write-off whose attempts all failed after one may have reached the biller is ``unknown``: the
caller keeps its payment pending and asks :meth:`BillerClient.write_off_status` later. When no
attempt reached the biller it raises :class:`BillerUnavailable`: nothing was written off.

Every request is signed with the gateway's key (RFC 9421, as webhooks are), which is how a biller
authenticates the gateway; every call is logged (``biller.call``) with the utility account number
masked by the logging processor. Answers are read with a size cap and decoded strictly; a
contradictory answer (another reference, account or amount) is never trusted.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from functools import partial
from typing import Any, TypeVar, cast
from urllib.parse import quote

import httpx
import msgspec
import structlog

from gateway.auth.keys import KeyRing
from gateway.auth.signatures import sign_request
from gateway.core_banking import CircuitBreaker, CircuitOpen, RetryPolicy
from gateway.errors import GatewayError, NotFound, ValidationFailed
from gateway.net import check_outbound_url
from gateway.scenarios.utilities.protocol import (
    WRITE_OFF_CODES,
    BillAnswer,
    Problem,
    WriteOffAnswer,
    WriteOffCreate,
)
from gateway.settings import Settings

T = TypeVar("T")
DEFAULT_TIMEOUT = httpx.Timeout(8.0, connect=3.0, pool=3.0)
MAX_ANSWER_BYTES = 64 * 1024
MAX_FILE_BYTES = 16 * 1024 * 1024
log = structlog.get_logger(__name__)


class BillerUnavailable(GatewayError):
    """Technical failure: the biller could not be reached or did not answer usably."""

    status = 503
    code = "biller_unavailable"


class BillerRejected(GatewayError):
    """The biller refused the request itself (a protocol breach on one side): no retry helps."""

    status = 502
    code = "biller_rejected"


class BillerAccountNotFound(NotFound):
    code = "account_not_found"


class _AttemptFailed(BillerUnavailable):
    def __init__(self, detail: str, *, reached: bool, retry_after: float | None = None) -> None:
        super().__init__(detail)
        self.reached = reached
        self.retry_after = retry_after


class NotSent(BillerUnavailable):
    """No attempt reached the biller (refused connection, connect timeout, open circuit)."""


class _GaveUp(BillerUnavailable):
    def __init__(self, detail: str, *, reached: bool) -> None:
        super().__init__(detail)
        self.reached = reached


class _Unreadable(Exception):
    """A 2xx answer that is not the answer to what was sent."""


class WriteOffStatus(StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class WriteOffResult:
    """The one result shape of a money movement (STYLE 6), for a write-off at the biller."""

    status: WriteOffStatus
    amount: int
    reference: str
    biller_reference: str | None = None
    error_code: str | None = None
    currency: str = "CNY"

    @property
    def ok(self) -> bool:
        return self.status is WriteOffStatus.SUCCEEDED


@dataclass(frozen=True, slots=True)
class BillerConfig:
    """A biller as onboarded: the partner's ``scenario_profile["utilities"]``."""

    biller_id: str
    biller_type: str
    api_base_url: str


class BillerClient:
    """The protocol for one biller. Long-lived: it holds the connection pool and the breaker."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        biller_id: str,
        key_ring: KeyRing | None = None,
        breaker: CircuitBreaker | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        self._client = client
        self.biller_id = biller_id
        self._key_ring = key_ring
        self.breaker = breaker or new_breaker()
        self._retry = retry or RetryPolicy()

    async def query_bill(self, account_no: str) -> BillAnswer:
        """The account's current bill; raises :class:`BillerAccountNotFound` for no account."""
        path = f"/v1/bills?account_no={quote(account_no, safe='')}"
        parse = partial(_bill, account_no=account_no)
        try:
            return await self._exchange("GET", path, None, "query", account_no, parse)
        except _GaveUp as e:
            raise BillerUnavailable(e.detail) from e

    async def write_off(
        self, *, reference: str, account_no: str, bill_key: str, amount: int
    ) -> WriteOffResult:
        """Write ``bill_key`` off under the gateway's ``reference`` (idempotent at the biller)."""
        body = WriteOffCreate(
            reference=reference, account_no=account_no, bill_key=bill_key, amount=amount
        )
        parse = partial(_written_off, sent=body)
        try:
            return await self._exchange(
                "POST", "/v1/write-offs", body, "write_off", account_no, parse
            )
        except _GaveUp as e:
            if not e.reached:
                raise NotSent(e.detail) from e
            log.warning("biller.outcome_unknown", biller_id=self.biller_id, reference=reference)
            return WriteOffResult(WriteOffStatus.UNKNOWN, amount, reference)

    async def write_off_status(
        self, *, reference: str, account_no: str, bill_key: str, amount: int
    ) -> WriteOffResult | None:
        """What the biller recorded under ``reference``; ``None`` when it recorded nothing (and,
        by the protocol, will refuse the reference from now on). Raises when it cannot answer."""
        sent = WriteOffCreate(
            reference=reference, account_no=account_no, bill_key=bill_key, amount=amount
        )
        path = f"/v1/write-offs/{quote(reference, safe='')}"
        parse = partial(_status, sent=sent)
        try:
            return await self._exchange("GET", path, None, "write_off_status", account_no, parse)
        except _GaveUp as e:
            raise BillerUnavailable(e.detail) from e

    async def reconciliation_file(self, business_date: date) -> str:
        """The biller's daily file for ``business_date`` (parse it with
        :func:`gateway.scenarios.utilities.reconciliation.parse_file`)."""
        path = f"/v1/reconciliation-files/{business_date.isoformat()}"
        try:
            return await self._exchange(
                "GET", path, None, "reconciliation_file", None, _text, limit=MAX_FILE_BYTES
            )
        except _GaveUp as e:
            raise BillerUnavailable(e.detail) from e

    async def _exchange(
        self,
        method: str,
        path: str,
        body: msgspec.Struct | None,
        operation: str,
        account_no: str | None,
        parse: Callable[[int, bytes], T],
        *,
        limit: int = MAX_ANSWER_BYTES,
    ) -> T:
        content = None if body is None else msgspec.json.encode(body)
        attempt_once = partial(self._attempt, method, path, content, parse, limit)
        reached = False
        attempt = 0
        bound = log.bind(
            biller_id=self.biller_id,
            operation=operation,
            account_no=account_no,
            reference=getattr(body, "reference", None),
        )
        while True:
            attempt += 1
            started = time.perf_counter()
            try:
                result = await self.breaker.call(attempt_once)
            except CircuitOpen as e:
                bound.warning("biller.call", attempt=attempt, outcome="circuit_open")
                raise _GaveUp(e.detail, reached=reached) from e
            except _AttemptFailed as e:
                reached = reached or e.reached
                bound.warning(
                    "biller.call",
                    attempt=attempt,
                    outcome="technical_failure",
                    reason=e.detail,
                    ms=round((time.perf_counter() - started) * 1000),
                )
                if attempt >= self._retry.attempts:
                    raise _GaveUp(e.detail, reached=reached) from e
                await asyncio.sleep(self._retry.delay(attempt, e.retry_after))
            except GatewayError as e:
                bound.info("biller.call", attempt=attempt, outcome=e.code)
                raise
            else:
                bound.info(
                    "biller.call",
                    attempt=attempt,
                    outcome="answered",
                    ms=round((time.perf_counter() - started) * 1000),
                )
                return result

    async def _attempt(
        self,
        method: str,
        path: str,
        content: bytes | None,
        parse: Callable[[int, bytes], T],
        limit: int,
    ) -> T:
        headers = {"accept": "application/json"}
        if content is not None:
            headers["content-type"] = "application/json"
        if self._key_ring is not None:
            headers |= sign_request(
                method=method,
                target_uri=str(self._client.base_url.join(path)),
                headers=headers,
                body=content or b"",
                private_jwk=self._key_ring.private_jwk(),
                key_id=self._key_ring.kid,
            )
        try:
            async with self._client.stream(method, path, content=content, headers=headers) as r:
                status = r.status_code
                raw = await _read_capped(r, limit)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as e:
            raise _AttemptFailed(f"biller not reached: {type(e).__name__}", reached=False) from e
        except httpx.TransportError as e:
            raise _AttemptFailed(f"no answer from biller: {type(e).__name__}", reached=True) from e
        except _Oversized as e:
            raise _AttemptFailed("the answer is too large", reached=True) from e
        if status == 429 or status >= 500:
            raise _AttemptFailed(
                f"biller answered HTTP {status}", reached=status != 429, retry_after=_after(r)
            )
        try:
            return parse(status, raw)
        except (msgspec.DecodeError, msgspec.ValidationError, _Unreadable) as e:
            raise _AttemptFailed(f"unreadable answer (HTTP {status})", reached=True) from e


class _Oversized(Exception):
    pass


async def _read_capped(response: httpx.Response, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > limit:
            raise _Oversized
        chunks.append(chunk)
    return b"".join(chunks)


def _after(response: httpx.Response) -> float | None:
    try:
        return max(0.0, float(response.headers.get("retry-after", "")))
    except ValueError:
        return None


def _problem(raw: bytes) -> Problem:
    try:
        return msgspec.json.decode(raw, type=Problem)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return Problem()


def _refusal(status: int, problem: Problem) -> BillerRejected:
    reason = problem.code or f"http_{status}"
    return BillerRejected(f"The biller refused the request (HTTP {status}, {reason}).")


def _bill(status: int, raw: bytes, *, account_no: str) -> BillAnswer:
    if 200 <= status < 300:
        bill = msgspec.json.decode(raw, type=BillAnswer)
        if bill.account_no != account_no:
            raise _Unreadable("the answer names another account")
        if (bill.bill_key is None) != (bill.amount_due == 0) or (
            bill.bill_key is not None and bill.period is None
        ):
            raise _Unreadable("a bill key, amount and period that do not hold together")
        return bill
    problem = _problem(raw)
    if status == 404 and problem.code == "account_not_found":
        raise BillerAccountNotFound("The biller has no such account.")
    raise _refusal(status, problem)


def _check_same(answer: WriteOffAnswer, sent: WriteOffCreate) -> None:
    if (answer.reference, answer.account_no, answer.bill_key, answer.amount) != (
        sent.reference,
        sent.account_no,
        sent.bill_key,
        sent.amount,
    ):
        raise _Unreadable("the answer is about another write-off")
    if (answer.status == "failed") != (answer.error_code is not None):
        raise _Unreadable("a failed write-off names its code, a succeeded one none")


def _result(answer: WriteOffAnswer) -> WriteOffResult:
    return WriteOffResult(
        WriteOffStatus(answer.status),
        answer.amount,
        answer.reference,
        answer.biller_reference,
        answer.error_code,
    )


def _written_off(status: int, raw: bytes, *, sent: WriteOffCreate) -> WriteOffResult:
    if 200 <= status < 300:
        answer = msgspec.json.decode(raw, type=WriteOffAnswer)
        _check_same(answer, sent)
        return _result(answer)
    problem = _problem(raw)
    if status == 422 and problem.code in WRITE_OFF_CODES:
        return WriteOffResult(
            WriteOffStatus.FAILED, sent.amount, sent.reference, None, problem.code
        )
    raise _refusal(status, problem)


def _status(status: int, raw: bytes, *, sent: WriteOffCreate) -> WriteOffResult | None:
    if 200 <= status < 300:
        answer = msgspec.json.decode(raw, type=WriteOffAnswer)
        _check_same(answer, sent)
        return _result(answer)
    problem = _problem(raw)
    if status == 404 and problem.code == "reference_not_found":
        return None
    raise _refusal(status, problem)


def _text(status: int, raw: bytes) -> str:
    if 200 <= status < 300:
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise _Unreadable("the file is not UTF-8") from e
    problem = _problem(raw)
    if status == 404:
        raise NotFound("The biller has no file for that date.", code="file_not_found")
    raise _refusal(status, problem)


def new_breaker(*, failure_threshold: int = 5, reset_after: float = 30.0) -> CircuitBreaker:
    """A biller's breaker: technical failures count against it, any answer closes it."""
    return CircuitBreaker(
        name="biller",
        failures=(_AttemptFailed,),
        answers=(GatewayError,),
        failure_threshold=failure_threshold,
        reset_after=reset_after,
    )


def config_of(partner_id: str, scenario_profile: dict[str, Any]) -> BillerConfig | None:
    """The biller behind a utilities partner, or ``None`` when it has no biller profile."""
    profile = scenario_profile.get("utilities")
    if not isinstance(profile, dict):
        return None
    base, kind = profile.get("api_base_url"), profile.get("biller_type")
    if not isinstance(base, str) or not isinstance(kind, str):
        return None
    return BillerConfig(partner_id, kind, base.rstrip("/"))


class BillerPool:
    """One :class:`BillerClient` per biller for the process (its pool and breaker shared by every
    request and job), created on first use after the URL passes the SSRF guard again.

    ``transport`` replaces the network for every biller (the demo talks to the sandbox biller
    in process through an ASGI transport, so it needs no second server)."""

    def __init__(
        self,
        settings: Settings,
        key_ring: KeyRing | None = None,
        *,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        breaker: Callable[[], CircuitBreaker] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._settings = settings
        self._transport = transport
        self._breaker = breaker or new_breaker
        self._key_ring = key_ring
        self._timeout = timeout
        self._retry = retry
        self._clients: dict[tuple[str, str], BillerClient] = {}
        self._lock = asyncio.Lock()
        self._stack = contextlib.AsyncExitStack()

    async def client_for(self, config: BillerConfig) -> BillerClient:
        key = (config.biller_id, config.api_base_url)
        found = self._clients.get(key)
        if found is not None:
            return found
        async with self._lock:
            found = self._clients.get(key)
            if found is None:
                try:
                    await check_outbound_url(
                        config.api_base_url, self._settings, field="api_base_url"
                    )
                except ValidationFailed as e:
                    raise NotSent("The biller's API URL is not allowed now.") from e
                http = await self._stack.enter_async_context(
                    httpx.AsyncClient(
                        base_url=config.api_base_url,
                        timeout=self._timeout,
                        follow_redirects=False,
                        transport=self._transport,
                    )
                )
                found = BillerClient(
                    http,
                    biller_id=config.biller_id,
                    key_ring=self._key_ring,
                    breaker=self._breaker(),
                    retry=self._retry,
                )
                self._clients[key] = found
        return found

    async def aclose(self) -> None:
        self._clients.clear()
        await self._stack.aclose()


POOL_SERVICE = "utilities.billers"


def pool_of(services: dict[str, Any], **options: Any) -> BillerPool:
    """The process's biller pool, created on first use (with ``options`` for
    :class:`BillerPool`) and closed with the process's services."""
    pool = services.get(POOL_SERVICE)
    if pool is None:
        pool = BillerPool(services["settings"], services.get("key_ring"), **options)
        services[POOL_SERVICE] = pool
        stack: contextlib.AsyncExitStack = services["exit_stack"]
        stack.push_async_callback(pool.aclose)
    return cast(BillerPool, pool)
