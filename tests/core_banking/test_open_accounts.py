"""``open_accounts``: many openings in one call, in the sandbox (bulk) and over HTTP (fan-out)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import pytest
import respx
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.core_banking import (
    CircuitBreaker,
    CoreBankingUnavailable,
    HttpCoreBanking,
    ReferenceConflict,
    RetryPolicy,
    SandboxCore,
    connect,
)
from gateway.core_banking.schemas import AccountOpen
from tests.core_banking.conftest import person

BASE = "https://core.bank.test"


def opening(n: int, customer: str | None = None, who: int | None = None) -> AccountOpen:
    return AccountOpen(
        reference=f"open:{n}",
        customer_ref=customer or f"cus_{n}",
        name="张三",
        id_number_hash=person(n if who is None else who),
    )


async def test_the_sandbox_opens_a_chunk_and_answers_replays_and_known_people(
    session: AsyncSession,
) -> None:
    core = SandboxCore(session)
    known = await core.open_account(
        reference="open:single", customer_ref="cus_s", name="李四", id_number_hash=person(9)
    )
    first = await core.open_accounts([opening(1), opening(2), opening(3, who=9)])
    assert [r.status for r in first] == ["opened", "opened", "existing"]
    assert first[2].account_no == known.account_no
    assert len({r.account_no for r in first}) == 3

    again = await core.open_accounts([opening(2), opening(1), opening(4)])  # a re-run chunk
    assert [(r.status, r.account_no) for r in again[:2]] == [
        ("opened", first[1].account_no),
        ("opened", first[0].account_no),
    ]
    assert again[2].status == "opened"
    same_person = await core.open_accounts([opening(5, who=7), opening(6, who=7)])
    assert [r.status for r in same_person] == ["opened", "existing"]
    assert same_person[0].account_no == same_person[1].account_no
    with pytest.raises(ReferenceConflict):
        await core.open_accounts([opening(1, customer="cus_someone_else")])
    assert await core.open_accounts([]) == []


@pytest.fixture
async def http_core() -> AsyncIterator[HttpCoreBanking]:
    retry = RetryPolicy(attempts=2, backoff=0, max_backoff=0)
    async with connect(BASE, retry=retry, breaker=CircuitBreaker(failure_threshold=50)) as c:
        yield c


async def test_over_http_each_opening_is_its_own_request_in_order(
    http_core: HttpCoreBanking,
) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        n = body["reference"].split(":")[1]
        account = f"62220000000000000{int(n):02d}"
        return httpx.Response(
            200, json={"reference": body["reference"], "account_no": account, "status": "opened"}
        )

    with respx.mock(base_url=BASE) as mock:
        route = mock.post("/v1/accounts").mock(side_effect=answer)
        results = await http_core.open_accounts([opening(n) for n in range(1, 41)])
    assert route.call_count == 40
    assert [r.reference for r in results] == [f"open:{n}" for n in range(1, 41)]
    assert results[6].account_no.endswith("07")


async def test_over_http_one_failure_fails_the_call_with_the_ports_error(
    http_core: HttpCoreBanking,
) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        if body["reference"] == "open:3":
            return httpx.Response(503)
        return httpx.Response(
            200,
            json={
                "reference": body["reference"],
                "account_no": "6222000000000000001",
                "status": "opened",
            },
        )

    with respx.mock(base_url=BASE) as mock:
        mock.post("/v1/accounts").mock(side_effect=answer)
        with pytest.raises(CoreBankingUnavailable):
            await http_core.open_accounts([opening(n) for n in range(1, 6)])
