"""Helpers for utilities tests: a biller partner, and the biller protocol's answers for respx."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import httpx
import sqlalchemy as sa
from sqlmodel import col, select

from gateway.core_banking import RetryPolicy
from gateway.core_banking.models import SandboxAccount
from gateway.db import utcnow
from gateway.jobs.models import Job, JobStatus
from gateway.notifications.models import Event
from gateway.scenarios.payments import payer_for
from gateway.scenarios.utilities.client import new_breaker, pool_of
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


async def balance(app: Any, sessions: Any, partner_id: str, customer_id: str) -> int:
    """The customer's balance at the sandbox core."""
    async with sessions() as s:
        payer = await payer_for(s, app.state.services["vault"], partner_id, customer_id)
        account = await s.get(SandboxAccount, payer.account_no)
    assert account is not None
    return int(account.balance)


async def events(sessions: Any, partner_id: str, prefix: str = "") -> list[Event]:
    async with sessions() as s:
        rows = await s.scalars(
            select(Event).where(col(Event.partner_id) == partner_id).order_by(col(Event.id))
        )
        return [e for e in rows.all() if e.type.startswith(prefix)]


async def jobs_due_now(sessions: Any, kind: str) -> int:
    """Bring every queued job of ``kind`` forward to now (the test's stand-in for waiting)."""
    async with sessions() as s:
        done = await s.execute(
            sa.update(Job)
            .where(col(Job.kind) == kind, col(Job.status) == JobStatus.QUEUED.value)
            .values(run_at=utcnow() - timedelta(seconds=1))
        )
        await s.commit()
    return int(done.rowcount)  # type: ignore[attr-defined]


def quick_billers(app: Any) -> None:
    """The app's biller pool without back-off, its breakers closing again at once (call after
    the app has started; the pool closes with the app)."""
    pool_of(
        app.state.services,
        retry=RetryPolicy(attempts=3, backoff=0, max_backoff=0),
        breaker=lambda: new_breaker(reset_after=0),
    )
