"""The biller client against respx at the biller's base URL: every failure mode.

No socket is opened: respx answers every request and fails any request not mocked here.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from datetime import date
from typing import Any

import httpx
import pytest
import respx
from structlog.testing import capture_logs

from gateway.core_banking import CircuitBreaker, RetryPolicy
from gateway.core_banking.breaker import BreakerState
from gateway.logging import mask_pii
from gateway.scenarios.utilities.client import (
    BillerAccountNotFound,
    BillerClient,
    BillerRejected,
    BillerUnavailable,
    NotSent,
    WriteOffStatus,
    new_breaker,
)
from gateway.scenarios.utilities.reconciliation import parse_file
from tests.scenarios.utilities.support import (
    ACCOUNT,
    BILLER,
    bill,
    echo_write_off,
    problem,
    written_off,
)

NO_WAIT = RetryPolicy(attempts=3, backoff=0, max_backoff=0)
WRITE_OFF = {
    "reference": "utp_1",
    "account_no": ACCOUNT,
    "bill_key": "2026-11-EL1",
    "amount": 12345,
}


@pytest.fixture
def mock() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=BILLER, assert_all_called=False) as router:
        yield router


@pytest.fixture
async def biller() -> AsyncIterator[BillerClient]:
    async with httpx.AsyncClient(base_url=BILLER) as http:
        yield BillerClient(
            http, biller_id="ptn_b", retry=NO_WAIT, breaker=CircuitBreaker(failure_threshold=50)
        )


async def _write_off(biller: BillerClient) -> Any:
    return await biller.write_off(**WRITE_OFF)


def _sent(route: respx.Route) -> list[dict[str, Any]]:
    return [json.loads(call.request.content) for call in route.calls]


async def test_a_bill_query_reads_the_bill(mock: respx.MockRouter, biller: BillerClient) -> None:
    route = mock.get("/v1/bills", params={"account_no": ACCOUNT}).respond(200, json=bill())

    answer = await biller.query_bill(ACCOUNT)

    assert (answer.bill_key, answer.amount_due, answer.period) == ("2026-11-EL1", 12345, "2026-11")
    assert route.call_count == 1


async def test_an_unknown_account_is_a_not_found_answer(
    mock: respx.MockRouter, biller: BillerClient
) -> None:
    route = mock.get("/v1/bills").mock(return_value=problem(404, "account_not_found"))

    with pytest.raises(BillerAccountNotFound):
        await biller.query_bill(ACCOUNT)
    assert route.call_count == 1  # an answer, not retried


async def test_a_bill_for_another_account_is_never_trusted(
    mock: respx.MockRouter, biller: BillerClient
) -> None:
    route = mock.get("/v1/bills").respond(200, json=bill(account_no="EL-OTHER-9"))

    with pytest.raises(BillerUnavailable):
        await biller.query_bill(ACCOUNT)
    assert route.call_count == 3


async def test_a_write_off_sends_the_gateway_reference(
    mock: respx.MockRouter, biller: BillerClient
) -> None:
    route = mock.post("/v1/write-offs").mock(side_effect=echo_write_off)

    result = await _write_off(biller)

    assert result.ok
    assert (result.reference, result.amount, result.biller_reference) == ("utp_1", 12345, "BL0001")
    assert _sent(route) == [WRITE_OFF | {"currency": "CNY"}]


async def test_a_timeout_is_retried_with_the_same_reference(
    mock: respx.MockRouter, biller: BillerClient
) -> None:
    route = mock.post("/v1/write-offs")
    route.side_effect = [httpx.ReadTimeout("slow"), echo_write_off]

    result = await _write_off(biller)

    assert result.ok
    first, second = _sent(route)
    assert first == second


async def test_5xx_are_retried_then_the_outcome_is_unknown(
    mock: respx.MockRouter, biller: BillerClient
) -> None:
    route = mock.post("/v1/write-offs").respond(502)

    result = await _write_off(biller)

    assert result.status is WriteOffStatus.UNKNOWN
    assert not result.ok
    assert route.call_count == 3


async def test_a_biller_never_reached_raises_not_sent(
    mock: respx.MockRouter, biller: BillerClient
) -> None:
    route = mock.post("/v1/write-offs").mock(side_effect=httpx.ConnectError("refused"))

    with pytest.raises(NotSent):
        await _write_off(biller)
    assert route.call_count == 3


async def test_a_business_refusal_is_a_failed_result_not_retried(
    mock: respx.MockRouter, biller: BillerClient
) -> None:
    route = mock.post("/v1/write-offs").mock(return_value=problem(422, "bill_already_paid"))

    result = await _write_off(biller)

    assert result.status is WriteOffStatus.FAILED
    assert result.error_code == "bill_already_paid"
    assert route.call_count == 1


async def test_other_4xx_are_refusals(mock: respx.MockRouter, biller: BillerClient) -> None:
    route = mock.post("/v1/write-offs").mock(return_value=problem(400, "validation_error"))

    with pytest.raises(BillerRejected):
        await _write_off(biller)
    assert route.call_count == 1


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(200, json=written_off(WRITE_OFF, amount=1)),  # another amount
        httpx.Response(200, json=written_off(WRITE_OFF, reference="utp_2")),
        httpx.Response(200, json=written_off(WRITE_OFF, status="failed")),  # failed, no code
        httpx.Response(200, text="<html>ok</html>"),
        httpx.Response(200, content=b"{" + b" " * 70_000 + b"}"),  # oversized
    ],
)
async def test_a_contradictory_or_oversized_answer_is_never_trusted(
    mock: respx.MockRouter, biller: BillerClient, answer: httpx.Response
) -> None:
    mock.post("/v1/write-offs").mock(return_value=answer)

    result = await _write_off(biller)

    assert result.status is WriteOffStatus.UNKNOWN


async def test_the_status_query_finds_the_outcome_or_nothing(
    mock: respx.MockRouter, biller: BillerClient
) -> None:
    mock.get("/v1/write-offs/utp_1").respond(200, json=written_off(WRITE_OFF))
    mock.get("/v1/write-offs/utp_2").mock(return_value=problem(404, "reference_not_found"))

    found = await biller.write_off_status(**WRITE_OFF)
    missing = await biller.write_off_status(**(WRITE_OFF | {"reference": "utp_2"}))

    assert found is not None
    assert found.ok
    assert missing is None


async def test_the_circuit_opens_and_then_nothing_is_sent(mock: respx.MockRouter) -> None:
    route = mock.get("/v1/bills").respond(503)
    async with httpx.AsyncClient(base_url=BILLER) as http:
        biller = BillerClient(http, biller_id="ptn_b", retry=NO_WAIT, breaker=new_breaker())
        with pytest.raises(BillerUnavailable):
            await biller.query_bill(ACCOUNT)  # three failures
        with pytest.raises(BillerUnavailable):
            await biller.query_bill(ACCOUNT)  # two more: five in a row open the circuit
        assert biller.breaker.state is BreakerState.OPEN
        calls = route.call_count
        with pytest.raises(NotSent):
            await biller.write_off(**WRITE_OFF)
        assert route.call_count == calls


async def test_every_call_is_logged_with_the_account_masked(
    mock: respx.MockRouter, biller: BillerClient
) -> None:
    mock.get("/v1/bills").respond(200, json=bill())
    mock.post("/v1/write-offs").mock(side_effect=[httpx.ReadTimeout("slow"), echo_write_off])

    with capture_logs() as logs:
        await biller.query_bill(ACCOUNT)
        await _write_off(biller)

    calls = [e for e in logs if e["event"] == "biller.call"]
    assert [(c["operation"], c["outcome"]) for c in calls] == [
        ("query", "answered"),
        ("write_off", "technical_failure"),
        ("write_off", "answered"),
    ]
    rendered = [mask_pii(None, "", dict(c)) for c in calls]
    assert all(ACCOUNT not in str(r) for r in rendered)
    assert rendered[0]["account_no"] == "EL-202**0001"


async def test_the_reconciliation_file_is_fetched_and_parsed(
    mock: respx.MockRouter, biller: BillerClient
) -> None:
    text = (
        "2|30000\n"
        "20261130093000|utp_1|EL-2026-0001|12345|BANK|pay\n"
        "20261130101500|utp_2|EL-2026-0002|17655|BANK|pay\n"
    )
    mock.get("/v1/reconciliation-files/2026-11-30").respond(
        200, text=text, headers={"content-type": "text/plain"}
    )

    parsed = parse_file(await biller.reconciliation_file(date(2026, 11, 30)))

    assert parsed.ok
    assert [(r.reference, r.amount, r.type) for r in parsed.rows] == [
        ("utp_1", 12345, "pay"),
        ("utp_2", 17655, "pay"),
    ]
    assert parsed.rows[0].occurred_at.isoformat() == "2026-11-30T01:30:00+00:00"
