"""Webhook delivery: signed, at least once, on the retry schedule, dead-lettered, redeliverable."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
import respx
import sqlalchemy as sa
from litestar import Litestar

from gateway.db import utcnow
from gateway.jobs.models import Job
from gateway.notifications import emit
from gateway.notifications.models import WebhookDelivery
from gateway.partners.models import Partner
from tests.conftest import StaffFactory, run_jobs
from tests.e2e.conftest import free_port
from tests.partners.support import PartnerHandle, onboard


async def _time_passes(sessions: Any) -> None:
    """Make every scheduled job due now (instead of waiting minutes for the next attempt)."""
    async with sessions() as s:
        await s.execute(
            sa.update(Job)
            .where(Job.status == "queued")
            .values(run_at=utcnow() - timedelta(seconds=1))
        )
        await s.commit()


async def _emit(sessions: Any, partner: PartnerHandle, n: int = 1) -> None:
    async with sessions() as s:
        await emit(s, partner.partner_id, "payment.succeeded", {"n": n})
        await s.commit()


async def _delivery(sessions: Any) -> WebhookDelivery:
    async with sessions() as s:
        return (await s.scalars(sa.select(WebhookDelivery))).one()


async def _set_partner(sessions: Any, partner: PartnerHandle, **values: Any) -> None:
    async with sessions() as s:
        await s.execute(sa.update(Partner).where(Partner.id == partner.partner_id).values(**values))
        await s.commit()


async def test_retries_follow_the_schedule_then_succeed(
    client: Any, app: Litestar, staff: StaffFactory, sessions: Any
) -> None:
    partner = await onboard(client, staff)
    await _emit(sessions, partner)
    with respx.mock() as mock:
        route = mock.post("http://127.0.0.1:9/hooks").mock(
            side_effect=[httpx.Response(500), httpx.ConnectError("refused"), httpx.Response(202)]
        )
        before = utcnow()
        await run_jobs(app)
        first = await _delivery(sessions)
        assert (first.status, first.attempts, first.last_status_code) == ("pending", 1, 500)
        assert first.next_attempt_at is not None
        assert 235 <= (first.next_attempt_at - before).total_seconds() <= 245  # about 4 minutes
        await _time_passes(sessions)
        await run_jobs(app)
        second = await _delivery(sessions)
        assert (second.attempts, second.last_error) == (2, "ConnectError")
        assert second.next_attempt_at is not None
        assert 595 <= (second.next_attempt_at - utcnow()).total_seconds() <= 605  # then 10 minutes
        await _time_passes(sessions)
        await run_jobs(app)
    done = await _delivery(sessions)
    assert (done.status, done.attempts) == ("succeeded", 3)
    assert route.call_count == 3
    bodies = {json.loads(c.request.content)["id"] for c in route.calls}
    assert len(bodies) == 1  # the same event id every time: partners de-duplicate by it


async def test_dead_letter_per_partner_schedule_and_redeliver(
    client: Any, app: Litestar, staff: StaffFactory, sessions: Any
) -> None:
    partner = await onboard(client, staff)
    await _set_partner(sessions, partner, webhook_retry_seconds=[1, 1])
    await _emit(sessions, partner)
    with respx.mock() as mock:
        mock.post("http://127.0.0.1:9/hooks").mock(return_value=httpx.Response(503))
        for _ in range(3):
            await run_jobs(app)
            await _time_passes(sessions)
        await run_jobs(app)
    dead = await _delivery(sessions)
    assert (dead.status, dead.attempts) == ("dead", 3)

    listed = await partner.call("GET", "/v1/webhook-deliveries?status=dead")
    assert [d["id"] for d in listed.json()["data"]] == [dead.id]
    assert listed.json()["data"][0]["event_type"] == "payment.succeeded"
    again = await partner.call("POST", f"/v1/webhook-deliveries/{dead.id}/redeliver")
    assert (again.status_code, again.json()["status"]) == (202, "pending")
    busy = await partner.call("POST", f"/v1/webhook-deliveries/{dead.id}/redeliver")
    assert (busy.status_code, busy.json()["code"]) == (409, "delivery_pending")
    with respx.mock() as mock:
        mock.post("http://127.0.0.1:9/hooks").mock(return_value=httpx.Response(200))
        await run_jobs(app)
    assert (await _delivery(sessions)).status == "succeeded"
    other = await onboard(client, staff)
    assert (
        await other.call("POST", f"/v1/webhook-deliveries/{dead.id}/redeliver")
    ).status_code == 404


async def test_ssrf_guard_applies_again_at_delivery(
    client: Any, app: Litestar, staff: StaffFactory, sessions: Any
) -> None:
    partner = await onboard(client, staff)
    await _set_partner(
        sessions, partner, webhook_url="http://10.0.0.1/hooks"
    )  # DNS or a DB edit changed it
    await _emit(sessions, partner)
    with respx.mock(assert_all_called=False) as mock:
        route = mock.post("http://10.0.0.1/hooks").mock(return_value=httpx.Response(200))
        await run_jobs(app)
    assert route.call_count == 0
    delivery = await _delivery(sessions)
    assert delivery.status == "pending"
    assert delivery.last_error is not None and "private" in delivery.last_error


class _Receiver(http.server.BaseHTTPRequestHandler):
    failures_left = 2
    received: list[dict[str, Any]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if _Receiver.failures_left > 0:
            _Receiver.failures_left -= 1
            self.send_response(500)
        else:
            _Receiver.received.append(
                {"body": json.loads(body), "signature": self.headers.get("Signature")}
            )
            self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        """Quiet."""


@pytest.fixture
def receiver() -> Iterator[str]:
    _Receiver.failures_left, _Receiver.received = 2, []
    server = http.server.HTTPServer(("127.0.0.1", free_port()), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hooks"
    server.shutdown()
    server.server_close()


async def test_real_receiver_that_fails_first_gets_the_event_once_it_recovers(
    client: Any, app: Litestar, staff: StaffFactory, sessions: Any, receiver: str
) -> None:
    partner = await onboard(client, staff)
    await _set_partner(sessions, partner, webhook_url=receiver)
    await _emit(sessions, partner, n=7)
    for _ in range(3):
        await run_jobs(app)
        await _time_passes(sessions)
    assert [r["body"]["data"] for r in _Receiver.received] == [{"n": 7}]
    assert _Receiver.received[0]["signature"]
    assert (await _delivery(sessions)).attempts == 3
