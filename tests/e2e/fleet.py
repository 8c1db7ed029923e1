"""A production-shaped fleet on loopback: gateway servers and workers as real processes.

Every process shares what DESIGN §2 says replicas must share (one PostgreSQL database, one Redis,
the secrets, the public URL a load balancer would answer on) and nothing else, so a test can send
one request to server ``a`` and the next to server ``b``, and kill any process with SIGKILL.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import httpx
from sqlalchemy.engine import make_url

from gateway.auth.signatures import sign_request
from tests.factories import keypair
from tests.partners.support import application_body

ROOT = Path(__file__).resolve().parents[2]
REDIS_URL = os.environ.get("GATEWAY_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
STAFF_PASSWORD = "fleet-long-password"
T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _secret() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()


@contextlib.contextmanager
def fresh_database(server_url: str) -> Iterator[str]:
    """A new, empty database on the PostgreSQL server of ``server_url``, dropped afterwards."""
    name = f"fleet_{uuid.uuid4().hex[:12]}"
    url = make_url(server_url)

    def admin(sql: str) -> None:
        async def run() -> None:
            dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
            conn = await asyncpg.connect(dsn)
            try:
                await conn.execute(sql)
            finally:
                await conn.close()

        asyncio.run(run())

    admin(f'CREATE DATABASE "{name}"')
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass
class Fleet:
    """Named gateway processes (``gateway serve`` / ``gateway worker``) on one database."""

    database_url: str
    logs: Path
    # What partners sign (@target-uri) and tokens name: a load balancer's address, not a
    # replica's. Loopback, because outside production OAuth allows plain http only there.
    public_url: str = field(default_factory=lambda: f"http://127.0.0.1:{free_port()}")
    env: dict[str, str] = field(default_factory=dict)
    urls: dict[str, str] = field(default_factory=dict)
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        base = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
        self.env = base | {
            "GATEWAY_DATABASE_URL": self.database_url,
            "GATEWAY_PUBLIC_URL": self.public_url,
            "GATEWAY_REDIS_URL": REDIS_URL,
            "GATEWAY_SECRET_KEY": _secret(),
            "GATEWAY_PII_KEY": _secret(),
            # Never written: with both secrets set no process needs a development key file.
            "GATEWAY_KEY_FILE": str(self.logs / "no-key-file.json"),
            "GATEWAY_WORKERS_IN_PROCESS": "false",
            "GATEWAY_JOB_POLL_SECONDS": "0.1",
            # Long enough that a busy machine never has a second worker take over a job still
            # running; crash tests shorten it, as it is how long a killed worker's job waits.
            "GATEWAY_JOB_LEASE_SECONDS": "30",
            "GATEWAY_BATCH_CHUNK_SIZE": "25",
            "GATEWAY_DB_POOL_SIZE": "4",  # four processes share one max_connections
            "GATEWAY_LOG_FORMAT": "json",
        }

    def cli(self, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "gateway.cli", *args],
            env=self.env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    def _spawn(self, name: str, *args: str) -> None:
        log = (self.logs / f"{name}.log").open("ab")
        self.procs[name] = subprocess.Popen(
            [sys.executable, "-m", "gateway.cli", *args],
            env=self.env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()

    def start_server(self, name: str) -> None:
        """Start ``gateway serve`` (a new port on a restart); :meth:`wait_ready` waits for it."""
        port = free_port()
        self.urls[name] = f"http://127.0.0.1:{port}"
        self._spawn(name, "serve", "--port", str(port))

    def start_worker(self, name: str) -> None:
        self._spawn(name, "worker")

    def start_core(self, name: str) -> None:
        """Start the sandbox core as its own process (``gateway sandbox-core``) and point every
        process started afterwards at it: money then moves in the core's transactions, not in
        the gateway's, as with a bank's core (a killed gateway cannot roll a payment back)."""
        port = free_port()
        self.urls[name] = f"http://127.0.0.1:{port}"
        self._spawn(name, "sandbox-core", "--port", str(port))
        self.env["GATEWAY_CORE_BANKING_URL"] = self.urls[name]

    def wait_ready(self, *names: str, timeout: float = 150, probe: str = "/ready") -> None:
        """Wait for each process to answer ``probe`` (the sandbox core answers ``/health``)."""
        deadline = time.monotonic() + timeout
        for name in names:
            while True:
                if self.procs[name].poll() is not None:
                    raise RuntimeError(f"{name} exited:\n{self.log(name)}")
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(f"{self.urls[name]}{probe}", timeout=2).status_code == 200:
                        break
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{name} never became ready:\n{self.log(name)}")
                time.sleep(0.2)

    def kill(self, name: str) -> None:
        """SIGKILL: no shutdown hook, no rollback, no flushed buffer runs."""
        proc = self.procs.pop(name)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)

    def alive(self, name: str) -> bool:
        return name in self.procs and self.procs[name].poll() is None

    def log(self, name: str) -> str:
        path = self.logs / f"{name}.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def stop_all(self) -> None:
        for proc in self.procs.values():
            proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.procs.clear()

    def on_database(self, work: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
        """Run ``work`` on a connection of its own to the fleet's database, behind the gateway's
        back: checks the API cannot show, and loading data faster than the API would."""

        async def run() -> T:
            dsn = make_url(self.database_url).set(drivername="postgresql")
            conn = await asyncpg.connect(dsn.render_as_string(hide_password=False))
            try:
                return await work(conn)
            finally:
                await conn.close()

        return asyncio.run(run())

    def fetchval(self, sql: str, *args: Any) -> Any:
        """One value read straight from the fleet's database."""
        return self.on_database(lambda conn: conn.fetchval(sql, *args))

    def fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        """Rows read straight from the fleet's database."""
        return self.on_database(lambda conn: conn.fetch(sql, *args))

    def add_staff(self, username: str, *roles: str) -> None:
        role_args = [arg for role in roles for arg in ("--role", role)]
        self.cli("users", "add", username, *role_args, "--password", STAFF_PASSWORD)


def staff_headers(http: httpx.Client, username: str) -> dict[str, str]:
    resp = http.post("/admin/v1/sessions", json={"username": username, "password": STAFF_PASSWORD})
    assert resp.status_code == 201, resp.text
    return {"Authorization": f"Bearer {resp.json()['token']}"}


@dataclass
class FleetPartner:
    """A partner that signs for the public URL and may send each request to any replica."""

    public_url: str
    partner_id: str
    client_id: str
    client_secret: str
    private_jwk: dict[str, Any]
    token: str = ""

    def fetch_token(self, http: httpx.Client) -> str:
        resp = http.post(
            "/v1/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=(self.client_id, self.client_secret),
        )
        assert resp.status_code == 200, resp.text
        self.token = resp.json()["access_token"]
        return self.token

    def signed(
        self, method: str, path: str, body: bytes = b"", idempotency_key: str | None = None
    ) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self.token}"}
        if body:
            headers["Content-Type"] = "application/json"
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key
        headers |= sign_request(
            method=method,
            target_uri=self.public_url + path,
            headers={k.lower(): v for k, v in headers.items()},
            body=body,
            private_jwk=self.private_jwk,
            key_id=str(self.private_jwk["kid"]),
        )
        return headers

    def request(
        self,
        method: str,
        path: str,
        payload: Any = None,
        *,
        idempotency_key: str | None = None,
    ) -> tuple[bytes, dict[str, str]]:
        """The body and signed headers of a request (send them with any client, any times)."""
        body = json.dumps(payload).encode() if payload is not None else b""
        if method == "POST" and idempotency_key is None:
            idempotency_key = str(uuid.uuid4())
        return body, self.signed(method, path, body, idempotency_key)


def onboard(
    fleet: Fleet, http: httpx.Client, maker: str, checker: str, **overrides: Any
) -> FleetPartner:
    """Apply, review and approve a partner through ``http`` (any replica of ``fleet``)."""
    private, public = keypair()
    applied = http.post("/v1/partner-applications", json=application_body(public, **overrides))
    assert applied.status_code == 201, applied.text
    app_id = applied.json()["id"]
    reviewed = http.post(
        f"/admin/v1/partner-applications/{app_id}/review",
        json={"recommendation": "approve"},
        headers=staff_headers(http, maker),
    )
    assert reviewed.status_code == 200, reviewed.text
    approved = http.post(
        f"/admin/v1/partner-applications/{app_id}/approve",
        json={},
        headers=staff_headers(http, checker),
    )
    assert approved.status_code == 200, approved.text
    creds = approved.json()
    return FleetPartner(
        fleet.public_url,
        creds["partner_id"],
        creds["client_id"],
        creds["client_secret"],
        private,
    )


@dataclass
class WebhookReceiver:
    """A partner's webhook endpoint on loopback that answers 204 and records every POST."""

    url: str = ""
    received: list[dict[str, Any]] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None

    def __enter__(self) -> WebhookReceiver:
        received, lock = self.received, threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                with lock:
                    received.append(
                        {"headers": dict(self.headers.items()), "body": body}
                        | {"event": json.loads(body)}
                    )
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/hooks"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()

    def events(self, type_: str) -> list[dict[str, Any]]:
        return [r["event"] for r in self.received if r["event"]["type"] == type_]


def wait_for(check: Any, what: str, timeout: float = 60, every: float = 0.25) -> Any:
    """Poll ``check()`` until it returns something truthy (what the fleet does is asynchronous)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(every)


def add_operations_staff(fleet: Fleet) -> None:
    """The makers, checkers and finance/admin staff the crash tests act as."""
    fleet.add_staff("crash-maker", "ops_maker")
    fleet.add_staff("crash-checker", "ops_checker")
    fleet.add_staff("crash-money", "finance", "admin")


def snooze_night_burst(fleet: Fleet, http: httpx.Client, merchant_id: str) -> None:
    """Snooze ``night_burst`` for a merchant the test pays many times within seconds.

    Between 00:00 and 05:00 Asia/Shanghai (16:00-21:00 UTC) the rule reviews a merchant's tenth
    and later payments of the night and holds them out of settlement, so a test that settles all
    of its payments passed by day and failed by night. A risk analyst snoozes the rule for the
    merchant, as ops would for a round-the-clock one: it still fires and is recorded, it does
    not act, and the test means the same at any hour.
    """
    fleet.add_staff(f"risk-{merchant_id}", "risk_analyst")
    resp = http.post(
        "/admin/v1/risk/snoozes",
        json={
            "rule": "night_burst",
            "subject": {"type": "merchant", "id": merchant_id},
            "until": (datetime.now(UTC) + timedelta(days=1)).isoformat(),
            "reason": "the test pays this merchant many times in a few seconds, at any hour",
        },
        headers=staff_headers(http, f"risk-{merchant_id}"),
    )
    assert resp.status_code == 201, resp.text


def alive(fleet: Fleet, name: str) -> bool:
    """``name`` is running (its log in the failure otherwise); for ``wait_for`` conditions."""
    assert fleet.alive(name), fleet.log(name)
    return True
