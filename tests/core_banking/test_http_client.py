"""The HTTP core-banking client against respx at the core's base URL: every failure mode.

No socket is opened: respx answers every request, and fails any request not mocked here.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import respx
from structlog.testing import capture_logs

from gateway.core_banking import (
    CircuitBreaker,
    CoreBankingRejected,
    CoreBankingUnavailable,
    ErrorCode,
    HttpCoreBanking,
    MoneyStatus,
    ReferenceConflict,
    RetryPolicy,
    connect,
)
from gateway.core_banking.breaker import BreakerState
from tests.core_banking.conftest import person

BASE = "https://core.bank.test"
ACCOUNT = "6222021234567890128"
MERCHANT = "9100001234567890122"
NO_WAIT = RetryPolicy(attempts=3, backoff=0, max_backoff=0)


def succeeded(reference: str, amount: int, core_reference: str = "CB0001") -> dict[str, Any]:
    return {
        "ok": True,
        "status": "succeeded",
        "amount": amount,
        "currency": "CNY",
        "reference": reference,
        "core_reference": core_reference,
        "error_code": None,
    }


def problem(status: int, code: str, **extra: Any) -> httpx.Response:
    body = {"type": f"https://errors.test/{code}", "title": "x", "status": status, "code": code}
    return httpx.Response(
        status, json=body | extra, headers={"content-type": "application/problem+json"}
    )


def sent(route: respx.Route) -> list[dict[str, Any]]:
    return [json.loads(call.request.content) for call in route.calls]


@pytest.fixture
def mock() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=BASE, assert_all_called=False) as router:
        yield router


@pytest.fixture
async def core() -> AsyncIterator[HttpCoreBanking]:
    async with connect(BASE, retry=NO_WAIT, breaker=CircuitBreaker(failure_threshold=50)) as c:
        yield c


async def _debit(core: HttpCoreBanking, reference: str = "txn_1", amount: int = 8_800) -> Any:
    return await core.debit(reference=reference, account_no=ACCOUNT, amount=amount, purpose="fuel")


async def test_a_debit_sends_the_protocol_body_and_reads_the_result(
    mock: respx.MockRouter, core: HttpCoreBanking
) -> None:
    route = mock.post("/v1/debits").respond(200, json=succeeded("txn_1", 8_800))

    result = await _debit(core)

    assert result.ok
    assert result.core_reference == "CB0001"
    request = route.calls.last.request
    assert request.headers["content-type"] == "application/json"
    assert sent(route) == [
        {
            "reference": "txn_1",
            "account_no": ACCOUNT,
            "amount": 8_800,
            "currency": "CNY",
            "purpose": "fuel",
        }
    ]


async def test_a_timeout_is_retried_with_the_same_reference(
    mock: respx.MockRouter, core: HttpCoreBanking
) -> None:
    route = mock.post("/v1/transfers")
    route.side_effect = [httpx.ReadTimeout("slow"), httpx.Response(200, json=succeeded("t", 500))]

    result = await core.transfer(
        reference="t", from_account=ACCOUNT, to_account=MERCHANT, amount=500, purpose="fee"
    )

    assert result.ok
    first, second = sent(route)
    assert first == second
    assert first["reference"] == "t"


async def test_5xx_and_429_are_retried(mock: respx.MockRouter, core: HttpCoreBanking) -> None:
    route = mock.post("/v1/credits")
    route.side_effect = [
        httpx.Response(500),
        httpx.Response(429, headers={"retry-after": "0"}),
        httpx.Response(200, json=succeeded("c", 100)),
    ]

    result = await core.credit(reference="c", account_no=ACCOUNT, amount=100, purpose="refund")

    assert result.ok
    assert route.call_count == 3


async def test_a_business_refusal_is_a_failed_result_and_not_retried(
    mock: respx.MockRouter, core: HttpCoreBanking
) -> None:
    route = mock.post("/v1/debits").mock(
        return_value=problem(422, "insufficient_funds", core_reference="SBX1")
    )

    result = await _debit(core)

    assert not result.ok
    assert result.status is MoneyStatus.FAILED
    assert result.error_code is ErrorCode.INSUFFICIENT_FUNDS
    assert (result.reference, result.amount, result.core_reference) == ("txn_1", 8_800, "SBX1")
    assert route.call_count == 1


@pytest.mark.parametrize(
    ("answer", "error", "reason"),
    [
        (problem(409, "reference_conflict"), ReferenceConflict, "reference_conflict"),
        (problem(422, "validation_error"), CoreBankingRejected, "validation_error"),
        (httpx.Response(403, text="no"), CoreBankingRejected, "http_403"),
    ],
)
async def test_other_4xx_are_refusals_of_the_instruction(
    mock: respx.MockRouter,
    core: HttpCoreBanking,
    answer: httpx.Response,
    error: type[CoreBankingRejected],
    reason: str,
) -> None:
    route = mock.post("/v1/debits").mock(return_value=answer)

    with pytest.raises(error) as raised:
        await _debit(core)

    assert raised.value.reason == reason
    assert route.call_count == 1


@pytest.mark.parametrize(
    ("recorded", "status"),
    [
        (succeeded("txn_1", 8_800, "CB9"), MoneyStatus.SUCCEEDED),
        (
            succeeded("txn_1", 8_800, "CB9")
            | {"ok": False, "status": "failed", "error_code": "account_frozen"},
            MoneyStatus.FAILED,
        ),
    ],
)
async def test_a_lost_answer_is_resolved_by_get_transfer(
    mock: respx.MockRouter, core: HttpCoreBanking, recorded: dict[str, Any], status: MoneyStatus
) -> None:
    post = mock.post("/v1/debits").mock(side_effect=httpx.ReadTimeout("lost"))
    get = mock.get("/v1/movements/txn_1").respond(200, json=recorded)

    with capture_logs() as logs:
        result = await _debit(core)

    assert result.status is status
    assert result.core_reference == "CB9"
    assert post.call_count == 3
    assert get.call_count == 1
    assert "core_banking.outcome_resolved" in [e["event"] for e in logs]


@pytest.mark.parametrize(
    "answer",
    [problem(404, "reference_not_found"), httpx.Response(503), httpx.ConnectError("refused")],
)
async def test_an_outcome_nobody_can_tell_is_unknown_never_a_guess(
    mock: respx.MockRouter, core: HttpCoreBanking, answer: Any
) -> None:
    mock.post("/v1/debits").respond(502)
    mock.get("/v1/movements/txn_1").mock(side_effect=[answer] * 3)

    with capture_logs() as logs:
        result = await _debit(core)

    assert result.status is MoneyStatus.UNKNOWN
    assert not result.ok
    assert (result.reference, result.amount, result.error_code) == ("txn_1", 8_800, None)
    assert "core_banking.outcome_unknown" in [e["event"] for e in logs]


async def test_a_core_never_reached_raises_without_guessing(
    mock: respx.MockRouter, core: HttpCoreBanking
) -> None:
    post = mock.post("/v1/debits").mock(side_effect=httpx.ConnectError("refused"))
    get = mock.get("/v1/movements/txn_1")

    with pytest.raises(CoreBankingUnavailable):
        await _debit(core)

    assert post.call_count == 3
    assert not get.called  # nothing was delivered, so there is nothing to ask about


async def test_an_unreadable_answer_is_retried(
    mock: respx.MockRouter, core: HttpCoreBanking
) -> None:
    route = mock.post("/v1/debits")
    route.side_effect = [
        httpx.Response(200, text="<html>proxy error</html>"),
        httpx.Response(200, json=succeeded("someone-else", 8_800)),
        httpx.Response(200, json=succeeded("txn_1", 8_800)),
    ]

    assert (await _debit(core)).ok
    assert route.call_count == 3


async def test_the_breaker_opens_fails_fast_and_half_opens(mock: respx.MockRouter) -> None:
    now = [0.0]
    breaker = CircuitBreaker(failure_threshold=2, reset_after=30, clock=lambda: now[0])
    get = mock.get("/v1/movements/r")
    get.side_effect = [
        httpx.Response(500),
        httpx.Response(500),
        httpx.Response(200, json=succeeded("r", 1)),
    ]
    post = mock.post("/v1/debits")
    once = RetryPolicy(attempts=1, backoff=0, max_backoff=0)
    async with connect(BASE, retry=once, breaker=breaker) as core:
        for _ in range(2):
            with pytest.raises(CoreBankingUnavailable):
                await core.get_transfer("r")
        assert breaker.state is BreakerState.OPEN

        with pytest.raises(CoreBankingUnavailable):  # nothing sent, so no "unknown" either
            await core.debit(reference="d", account_no=ACCOUNT, amount=1, purpose="")
        assert not post.called

        now[0] = 30
        assert await core.get_transfer("r") is not None  # the half-open probe
        assert breaker.state is BreakerState.CLOSED
        assert get.call_count == 3


async def test_open_account_is_idempotent_by_reference(
    mock: respx.MockRouter, core: HttpCoreBanking
) -> None:
    answer = {"reference": "acc-1", "account_no": ACCOUNT, "status": "opened"}
    route = mock.post("/v1/accounts")
    route.side_effect = [httpx.ReadTimeout("lost"), httpx.Response(200, json=answer)]

    opened = await core.open_account(
        reference="acc-1", customer_ref="cus_1", name="张三", id_number_hash=person(1)
    )

    assert opened.account_no == ACCOUNT
    first, second = sent(route)
    assert first == second
    assert first["id_number_hash"] == person(1)


async def test_logs_name_the_reference_never_an_account(
    mock: respx.MockRouter, core: HttpCoreBanking
) -> None:
    mock.post("/v1/transfers").mock(side_effect=httpx.ReadTimeout("lost"))
    mock.get("/v1/movements/t").mock(return_value=problem(404, "reference_not_found"))

    with capture_logs() as logs:
        await core.transfer(
            reference="t", from_account=ACCOUNT, to_account=MERCHANT, amount=1, purpose=""
        )

    assert [e["event"] for e in logs].count("core_banking.attempt_failed") == 3
    assert all(e["event"].startswith("core_banking.") for e in logs)
    assert all(e.get("reference") == "t" for e in logs)
    assert ACCOUNT not in repr(logs)
    assert MERCHANT not in repr(logs)


async def test_amounts_are_checked_before_anything_is_sent(
    mock: respx.MockRouter, core: HttpCoreBanking
) -> None:
    route = mock.post("/v1/debits")

    with pytest.raises(CoreBankingRejected):
        await _debit(core, amount=-5)

    assert not route.called
