"""A batch survives its worker being killed mid-way: no row lost, nobody opened twice."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from typing import Any

import pytest
import sqlalchemy as sa
from litestar import Litestar

from gateway.core_banking.models import SandboxAccount
from gateway.customers.models import AccountBatch, Customer
from gateway.settings import Settings
from tests.conftest import StaffFactory, run_jobs
from tests.customers.support import people
from tests.partners.support import onboard

ROWS = 3000


def _worker(settings: Settings) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "GATEWAY_DATABASE_URL": settings.database_url,
        "GATEWAY_SECRET_KEY": settings.secret_key or "",
        "GATEWAY_PII_KEY": settings.pii_key or "",
        "GATEWAY_JOB_LEASE_SECONDS": "2",
        "GATEWAY_JOB_POLL_SECONDS": "0.05",
        "GATEWAY_BATCH_CHUNK_SIZE": "100",  # many small chunks: the kill lands mid-batch
    }
    return subprocess.Popen(
        [sys.executable, "-m", "gateway.cli", "worker"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def _progress(sessions: Any, batch_id: str) -> tuple[str, int]:
    async with sessions() as s:
        batch = await s.get(AccountBatch, batch_id)
        assert batch is not None
        return batch.status, batch.processed


WORKERS = [
    pytest.param(1, id="one worker"),
    # Two workers, one killed: the survivor may hold the batch's next step or wait for the killed
    # worker's lease to run out; either way each row is screened and opened once.
    pytest.param(2, id="two workers"),
]


@pytest.mark.parametrize("count", WORKERS)
async def test_killed_worker_resumes_without_loss_or_duplicates(
    client: Any,
    app: Litestar,
    staff: StaffFactory,
    sessions: Any,
    settings: Settings,
    count: int,
) -> None:
    partner = await onboard(client, staff, webhook_url=None)
    rows = people(77, ROWS)
    resp = await partner.call(
        "POST", "/v1/account-batches", {"scenario": "community", "items": rows}
    )
    batch_id = resp.json()["id"]

    workers = [_worker(settings) for _ in range(count)]
    try:
        for _ in range(600):
            status, processed = await _progress(sessions, batch_id)
            if status == "processing" or processed:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.2)  # let it get into the next chunk
    finally:
        workers[0].send_signal(signal.SIGKILL)
        workers[0].wait()
    try:
        status, processed = await _progress(sessions, batch_id)
        assert processed < ROWS, "the worker finished before it could be killed; raise ROWS"
        await asyncio.sleep(0.5)  # the survivor works on while the killed worker's lease runs
    finally:
        for worker in workers[1:]:
            worker.send_signal(signal.SIGTERM)
            worker.wait()

    await asyncio.sleep(2.2)  # the killed worker's lease runs out
    await run_jobs(app)
    async with sessions() as s:
        batch = await s.get(AccountBatch, batch_id)
        assert batch is not None
        assert (batch.status, batch.processed, batch.opened, batch.rejected) == (
            "completed",
            ROWS,
            ROWS,
            0,
        )
        assert await s.scalar(sa.select(sa.func.count()).select_from(Customer)) == ROWS
        assert await s.scalar(sa.select(sa.func.count()).select_from(SandboxAccount)) == ROWS
        distinct = await s.scalar(sa.select(sa.func.count(sa.distinct(Customer.id_index))))
    assert distinct == ROWS
