"""Helpers for utilities tests: a biller partner, and the biller protocol's answers for respx."""

from __future__ import annotations

import json
from typing import Any

import httpx

from tests.conftest import StaffFactory
from tests.partners.support import PartnerHandle, onboard

BILLER = "https://biller.example.test"
BASE = "/v1/scenarios/utilities"
ACCOUNT = "EL-2026-0001"


def bill(
    account_no: str = ACCOUNT,
    amount: int = 123_45,
    key: str | None = "2026-11-EL1",
    holder_name: str = "王小明",
) -> dict[str, Any]:
    return {
        "account_no": account_no,
        "holder_name": holder_name,
        "bill_key": key,
        "amount_due": amount if key else 0,
        "period": "2026-11" if key else None,
        "currency": "CNY",
    }


def written_off(body: dict[str, Any], status: str = "succeeded", **extra: Any) -> dict[str, Any]:
    answer = {
        "reference": body["reference"],
        "status": status,
        "account_no": body["account_no"],
        "bill_key": body["bill_key"],
        "amount": body["amount"],
        "currency": "CNY",
        "biller_reference": "BL0001" if status == "succeeded" else None,
        "error_code": None,
        "written_off_at": "2026-11-30T03:00:00Z",
    }
    return answer | extra


def echo_write_off(request: httpx.Request) -> httpx.Response:
    """A biller that writes off whatever it is sent."""
    return httpx.Response(200, json=written_off(json.loads(request.content)))


def problem(status: int, code: str) -> httpx.Response:
    body = {"type": f"https://errors.test/{code}", "title": "x", "status": status, "code": code}
    return httpx.Response(status, json=body, headers={"content-type": "application/problem+json"})


async def onboard_biller(
    client: Any, staff: StaffFactory, base_url: str = BILLER, biller_type: str = "electricity"
) -> PartnerHandle:
    return await onboard(
        client,
        staff,
        scenarios=["utilities"],
        webhook_url=None,
        scenario_profile={"utilities": {"biller_type": biller_type, "api_base_url": base_url}},
    )
