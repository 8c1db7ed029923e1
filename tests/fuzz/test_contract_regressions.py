"""What the fuzzer found: answers the published OpenAPI did not describe, or described wrongly."""

from __future__ import annotations

import httpx

from tests.conftest import StaffFactory
from tests.partners.support import onboard


async def _schema(client: httpx.AsyncClient) -> dict:  # type: ignore[type-arg]
    resp = await client.get("/schema/openapi.json")
    assert resp.status_code == 200
    return resp.json()


async def test_every_operation_documents_its_errors_as_problem_json(
    client: httpx.AsyncClient,
) -> None:
    schema = await _schema(client)
    assert set(schema["components"]["schemas"]["Problem"]["required"]) == {
        "type", "title", "status", "detail", "code", "request_id"
    }  # fmt: skip
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            responses = operation["responses"]
            assert list(responses["default"]["content"]) == ["application/problem+json"], (
                method,
                path,
            )
            for status, response in responses.items():
                if status[0] in "45" and path != "/v1/oauth/token":
                    assert list(response["content"]) == ["application/problem+json"], (
                        method,
                        path,
                        status,
                    )
    # the partner operations' security requirement names a declared scheme
    assert schema["components"]["securitySchemes"]["partnerToken"]["scheme"] == "bearer"
    token = schema["paths"]["/v1/oauth/token"]["post"]["responses"]
    assert token["400"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/OAuthError"
    }


async def test_a_signature_failure_answers_what_the_schema_documents(
    client: httpx.AsyncClient,
) -> None:
    """Before the fix the schema listed only 200 for this operation and 400 as plain JSON."""
    schema = await _schema(client)
    documented = schema["paths"]["/v1/partners/me"]["get"]["responses"]
    resp = await client.get("/v1/partners/me")
    assert resp.status_code == 401
    assert str(resp.status_code) not in documented  # covered by the default response
    assert resp.headers["content-type"] == "application/problem+json"
    assert set(schema["components"]["schemas"]["Problem"]["required"]) <= set(resp.json())


async def test_csv_answers_carry_one_charset_and_are_documented(
    client: httpx.AsyncClient, staff: StaffFactory
) -> None:
    headers = await staff.token("fuzz-channels", "channel_manager")
    for path in (
        "/admin/v1/channels/funnel",
        "/admin/v1/channels/cohorts",
        "/admin/v1/channels/conversions",
    ):
        resp = await client.get(path, params={"format": "csv"}, headers=headers)
        assert resp.status_code == 200, resp.text
        # was "text/csv; charset=utf-8; charset=utf-8": Litestar adds the charset itself
        assert resp.headers["content-type"] == "text/csv; charset=utf-8"
    schema = await _schema(client)
    funnel = schema["paths"]["/admin/v1/channels/funnel"]["get"]["responses"]["200"]
    assert set(funnel["content"]) == {"application/json", "text/csv"}
    statement = schema["paths"]["/v1/settlements/{settlement_id}/statement"]["get"]
    assert set(statement["responses"]["200"]["content"]) == {
        "text/csv",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    }


async def test_partner_csv_answers_carry_one_charset(
    client: httpx.AsyncClient, staff: StaffFactory
) -> None:
    partner = await onboard(client, staff)
    await partner.fetch_token()
    path = "/v1/channels/funnel?format=csv"
    resp = await client.get(path, headers=partner.sign("GET", path))
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"] == "text/csv; charset=utf-8"


async def test_an_empty_risk_queue_answers_the_documented_204(
    client: httpx.AsyncClient, staff: StaffFactory
) -> None:
    headers = await staff.token("fuzz-analyst", "risk_analyst")
    resp = await client.post("/admin/v1/risk/cases/next", headers=headers)
    assert resp.status_code == 204
    assert resp.content == b""
    schema = await _schema(client)
    responses = schema["paths"]["/admin/v1/risk/cases/next"]["post"]["responses"]
    assert responses["204"] == {"description": "The queue is empty"}


async def test_trial_balance_takes_only_rfc3339_timestamps(
    client: httpx.AsyncClient, staff: StaffFactory
) -> None:
    headers = await staff.token("fuzz-finance", "finance")
    path = "/admin/v1/ledger/trial-balance"
    # a bare number was read as Unix seconds: this one answered the balance as of 1924
    for wrong in ("-1451472688", "1700000000", "2026-11-22T16:00:00"):
        resp = await client.get(path, params={"as_of": wrong}, headers=headers)
        assert resp.status_code == 422, (wrong, resp.text)
        assert resp.json()["code"] == "validation_error"
        assert resp.json()["errors"][0]["field"] == "as_of"
    for right in ("2026-11-22T16:00:00Z", "2026-11-23T00:00:00+08:00"):
        resp = await client.get(path, params={"as_of": right}, headers=headers)
        assert resp.status_code == 200, (right, resp.text)
        assert resp.json()["as_of"] == "2026-11-22T16:00:00Z"
        assert resp.json()["total"] == 0
