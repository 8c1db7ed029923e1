"""Real gateway processes on loopback ports, for end-to-end tests.

``live_server``: one ``gateway serve`` on its own SQLite file. ``fleet``: servers and workers on a
fresh PostgreSQL database with Redis (tests/e2e/fleet.py); it needs ``GATEWAY_TEST_DATABASE_URL``
(CI's PostgreSQL pass sets it) and skips, saying so, on the SQLite pass.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import IS_PG, PG_URL
from tests.e2e.fleet import Fleet, free_port, fresh_database


@dataclass(frozen=True)
class LiveServer:
    url: str
    env: dict[str, str]

    def cli(self, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "gateway.cli", *args],
            env=self.env,
            capture_output=True,
            text=True,
            check=True,
        )
        return done.stdout


@pytest.fixture
def live_server(tmp_path: Path) -> Iterator[LiveServer]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "GATEWAY_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/e2e.db",
        "GATEWAY_PUBLIC_URL": url,
        "GATEWAY_KEY_FILE": str(tmp_path / "keys.json"),
        "GATEWAY_JOB_POLL_SECONDS": "0.1",
    }
    env.pop("GATEWAY_TEST_DATABASE_URL", None)
    log = (tmp_path / "server.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "gateway.cli", "serve", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=log,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None:
                raise RuntimeError((tmp_path / "server.log").read_text())
            time.sleep(0.2)
        else:
            raise TimeoutError((tmp_path / "server.log").read_text())
        yield LiveServer(url, env)
    finally:
        proc.terminate()
        proc.wait(timeout=15)
        log.close()


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[Fleet]:
    """A fresh database migrated once (as an operator would), no process started yet."""
    if not IS_PG:
        pytest.skip("the fleet runs on PostgreSQL: set GATEWAY_TEST_DATABASE_URL (CI's PG pass)")
    with fresh_database(PG_URL) as url:
        fleet = Fleet(url, tmp_path)
        fleet.cli("db", "upgrade")
        try:
            yield fleet
        finally:
            fleet.stop_all()
            for log in sorted(tmp_path.glob("*.log")):  # shown by pytest when the test failed
                print(f"--- {log.name}\n{log.read_text(errors='replace')[-6000:]}")
