"""Every error answers RFC 9457 problem+json with a stable code and the request id."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from litestar import Litestar, get, post
from litestar.params import JSONBody
from litestar.testing import AsyncTestClient
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import create_async_engine

from gateway.app import create_app
from gateway.deps import AppSettings
from gateway.errors import PROBLEM_JSON, BusinessRuleViolation
from gateway.schemas import Strict
from gateway.settings import Settings


class Echo(Strict):
    amount: int
    name: str


@post("/test/echo")
async def echo(data: JSONBody[Echo]) -> dict[str, Any]:
    return msgspec.to_builtins(data)  # type: ignore[no-any-return]


@get("/test/boom")
async def boom() -> None:
    raise RuntimeError("secret stack detail 110101199003074258")


@get("/test/rule")
async def rule() -> None:
    raise BusinessRuleViolation("Over the cap.", code="limit_exceeded")


class _TooManyClients(Exception):
    sqlstate = "53300"  # what asyncpg reports when PostgreSQL is at max_connections


@get("/test/db-full")
async def db_full() -> None:
    raise sa_exc.DBAPIError("SELECT 1", {}, _TooManyClients("sorry, too many clients already"))


@get("/test/db-down")
async def db_down() -> None:
    engine = create_async_engine("postgresql+asyncpg://nobody@127.0.0.1:1/none")  # nothing listens
    try:
        async with engine.connect():
            pass
    finally:
        await engine.dispose()


@get("/test/pool-empty")
async def pool_empty(settings: AppSettings) -> None:
    engine = create_async_engine(
        settings.database_url, pool_size=1, max_overflow=0, pool_timeout=0.1
    )
    try:
        async with engine.connect(), engine.connect():
            pass
    finally:
        await engine.dispose()


@pytest.fixture
async def error_client(settings: Settings) -> Any:
    app: Litestar = create_app(settings)
    for handler in (echo, boom, rule, db_full, db_down, pool_empty):
        app.register(handler)
    async with AsyncTestClient(app=app) as c:
        yield c


def assert_problem(resp: Any, status: int, code: str) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith(PROBLEM_JSON)
    body: dict[str, Any] = resp.json()
    assert body["status"] == status
    assert body["code"] == code
    assert body["type"].endswith(code)
    assert body["title"] and body["detail"]
    assert body["request_id"] == resp.headers["x-request-id"]
    return body


async def test_unknown_route_is_404(error_client: Any) -> None:
    assert_problem(await error_client.get("/nowhere"), 404, "not_found")


async def test_wrong_method_is_405(error_client: Any) -> None:
    assert_problem(await error_client.delete("/health"), 405, "method_not_allowed")


async def test_malformed_json_is_400(error_client: Any) -> None:
    resp = await error_client.post(
        "/test/echo", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert_problem(resp, 400, "malformed_body")


async def test_unknown_field_is_rejected_with_field_errors(error_client: Any) -> None:
    body = assert_problem(
        await error_client.post(
            "/test/echo", json={"amount": 1, "name": "x", "status": "approved"}
        ),
        422,
        "validation_error",
    )
    assert body["errors"] == [
        {
            "field": "status",
            "code": "unknown_field",
            "message": "Object contains unknown field `status`",
        }
    ]


async def test_wrong_type_names_the_field(error_client: Any) -> None:
    body = assert_problem(
        await error_client.post("/test/echo", json={"amount": "ten", "name": "x"}),
        422,
        "validation_error",
    )
    assert body["errors"][0]["field"] == "amount"


async def test_missing_field_is_required(error_client: Any) -> None:
    body = assert_problem(
        await error_client.post("/test/echo", json={"amount": 1}), 422, "validation_error"
    )
    assert body["errors"][0] == {
        "field": "name",
        "code": "required",
        "message": "Object missing required field `name`",
    }


async def test_oversized_body_is_413(error_client: Any, settings: Settings) -> None:
    big = b"x" * (settings.body_limit + 1)
    resp = await error_client.post(
        "/test/echo", content=big, headers={"content-type": "application/json"}
    )
    assert_problem(resp, 413, "payload_too_large")


async def test_business_rule_is_422_with_its_code(error_client: Any) -> None:
    assert_problem(await error_client.get("/test/rule"), 422, "limit_exceeded")


async def test_unexpected_error_is_500_without_stack_or_pii(error_client: Any) -> None:
    resp = await error_client.get("/test/boom")
    body = assert_problem(resp, 500, "internal_error")
    assert "secret" not in resp.text
    assert "Traceback" not in resp.text
    assert body["detail"] == "An unexpected error occurred."


@pytest.mark.parametrize("path", ["/test/db-full", "/test/db-down", "/test/pool-empty"])
async def test_a_database_that_cannot_take_the_request_is_503(error_client: Any, path: str) -> None:
    resp = await error_client.get(path)

    body = assert_problem(resp, 503, "database_unavailable")
    assert resp.headers["retry-after"] == "1"
    assert "Traceback" not in resp.text and "127.0.0.1" not in body["detail"]


async def test_incoming_request_id_is_echoed(error_client: Any) -> None:
    resp = await error_client.get("/nowhere", headers={"X-Request-ID": "partner-trace-0001"})
    assert resp.json()["request_id"] == "partner-trace-0001"


async def test_wrong_media_type_is_415(error_client: Any) -> None:
    resp = await error_client.post(
        "/test/echo", content=b"amount=1", headers={"content-type": "text/plain"}
    )
    assert_problem(resp, 415, "unsupported_media_type")
