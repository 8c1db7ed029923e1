"""End to end: the HTTP client against the standalone sandbox core running as a real server.

The server is a separate uvicorn process on a free loopback port, on the test's own database, so
this crosses a real socket, real JSON, and a commit in another process.
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.core_banking import (
    CoreBankingUnavailable,
    ErrorCode,
    ReferenceConflict,
    RetryPolicy,
    SandboxCore,
    connect,
)
from tests.core_banking.conftest import person

YUAN = 100
SERVE = (
    "import sys, uvicorn\n"
    "from gateway.core_banking.app import create_sandbox_core_app\n"
    "uvicorn.run(create_sandbox_core_app(sys.argv[1]), host='127.0.0.1', port=int(sys.argv[2]),"
    " log_level='warning')\n"
)


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def wait_until_up(self, seconds: float = 30) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"sandbox core exited:\n{self.log.read_text()}")
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.1)
        pytest.fail(f"sandbox core did not come up:\n{self.log.read_text()}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[Server]:
    port = _free_port()
    log = tmp_path / "sandbox-core.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-c", SERVE, database_url, str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    running = Server(f"http://127.0.0.1:{port}", process, log)
    try:
        running.wait_until_up()
        yield running
    finally:
        running.stop()


@pytest.mark.slow
async def test_the_http_client_against_a_real_sandbox_core(
    sessions: async_sessionmaker[AsyncSession], server: Server
) -> None:
    retry = RetryPolicy(attempts=2, backoff=0.01, max_backoff=0.01)
    async with connect(server.url, retry=retry) as core:
        opened = await core.open_account(
            reference="acc-1", customer_ref="cus_1", name="张三", id_number_hash=person(1)
        )
        again = await core.open_account(
            reference="acc-1", customer_ref="cus_1", name="张三", id_number_hash=person(1)
        )
        async with httpx.AsyncClient(base_url=server.url) as demo:
            merchant = await demo.post(
                "/sandbox/internal-accounts", json={"reference": "m-1", "name": "物业公司结算户"}
            )
            funded = await demo.post(
                f"/sandbox/accounts/{opened.account_no}/deposits",
                json={"reference": "f-1", "amount": 20_000 * YUAN},
            )
        merchant_no = merchant.json()["account_no"]
        assert funded.json()["ok"]

        paid = await core.transfer(
            reference="pay-1",
            from_account=opened.account_no,
            to_account=merchant_no,
            amount=9_000 * YUAN,
            purpose="物业费",
        )
        replayed = await core.transfer(
            reference="pay-1",
            from_account=opened.account_no,
            to_account=merchant_no,
            amount=9_000 * YUAN,
            purpose="物业费",
        )
        over_cap = await core.debit(
            reference="pay-2", account_no=opened.account_no, amount=1_000 * YUAN + 1, purpose=""
        )
        with pytest.raises(ReferenceConflict):
            await core.debit(reference="pay-1", account_no=opened.account_no, amount=1, purpose="")
        looked_up = await core.get_transfer("pay-2")
        never_sent = await core.get_transfer("pay-404")

        await asyncio.to_thread(server.stop)
        with pytest.raises(CoreBankingUnavailable):  # refused connections: nothing was sent
            await core.debit(reference="pay-3", account_no=opened.account_no, amount=1, purpose="")

    assert again == opened
    assert paid.ok
    assert replayed == paid
    assert over_cap.error_code is ErrorCode.LIMIT_EXCEEDED
    assert looked_up == over_cap
    assert never_sent is None
    async with sessions() as session:  # the server's commits, seen from the gateway's database
        sandbox = SandboxCore(session)
        assert (await sandbox.account(opened.account_no)).balance == 11_000 * YUAN
        assert (await sandbox.account(merchant_no)).balance == 9_000 * YUAN
        assert await sandbox.get_transfer("pay-3") is None
