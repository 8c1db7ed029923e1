"""Batch account opening end to end through the API, against a bulk-insert baseline (DESIGN §14).

For each size (``--rows`` and a tenth of it, for the slope) on a fresh database:

* **gateway**: a real server (``gateway serve``, uvicorn) and ``--workers`` job worker processes;
  a partner onboarded through the API uploads the rows as CSV to ``POST /v1/account-batches``;
  the clock runs from the upload until the batch is ``completed``.
* **baseline**, in the same run on its own fresh database: the same CSV parsed, every row checked
  by the same rules, blind-indexed and encrypted by the same vault, and the same rows written
  per table in bulk — ``COPY`` (asyncpg ``copy_records_to_table``) on PostgreSQL,
  ``executemany`` on SQLite: sandbox accounts, customers, links, touchpoints, batch items.

It prints rows/s for both, their ratio, and the slope (time per row at full size over time per
row at a tenth: 1.0 is linear).

    .venv/bin/python -m bench.batch_open                       # SQLite files in a temp dir
    .venv/bin/python -m bench.batch_open --database-url postgresql+asyncpg://root@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import csv
import io
import json
import os
import random
import secrets
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from joserfc.jwk import OKPKey
from sqlalchemy.engine import make_url
from stdnum.cn import ric

from gateway import migrate
from gateway.auth.signatures import sign_request
from gateway.core_banking.sandbox import PERSONAL_PREFIX, new_account_no
from gateway.customers.rules import check_identity, today
from gateway.demo.identities import fake_account_no, fake_uscc
from gateway.ids import new_id
from gateway.pii import PiiVault, mask_name

PASSWORD = "bench-password-123"  # noqa: S105  (a throwaway staff account on a throwaway database)
SCENARIO = "community"
CSV_HEADER = "external_ref,name,id_number,phone\n"


# -- data ------------------------------------------------------------------------------------


def identities(count: int, offset: int = 0) -> Iterator[tuple[str, str, str, str]]:
    """Distinct valid people: (external_ref, name, resident id, mobile), deterministic."""
    first = date(1970, 1, 1)
    days = 12_000
    for n in range(offset, offset + count):
        birth = first + timedelta(days=n % days)
        body = f"110105{birth:%Y%m%d}{n // days % 1000:03d}"
        yield f"r-{n}", "张三", body + ric.calc_check_digit(body + "0"), f"13{n % 10**9:09d}"


def csv_body(count: int) -> bytes:
    lines = [CSV_HEADER]
    lines += [",".join(row) + "\n" for row in identities(count)]
    return "".join(lines).encode()


# -- databases -------------------------------------------------------------------------------


@dataclass
class Database:
    url: str  # SQLAlchemy URL (sqlite+aiosqlite or postgresql+asyncpg)

    @property
    def is_pg(self) -> bool:
        return self.url.startswith("postgresql")

    def dsn(self) -> str:
        """The driver's own connection string (asyncpg DSN or a SQLite file path)."""
        url = make_url(self.url)
        if self.is_pg:
            return url.set(drivername="postgresql").render_as_string(hide_password=False)
        return str(url.database)


async def fresh_database(base_url: str | None, name: str, scratch: Path) -> Database:
    if base_url is None:
        return Database(f"sqlite+aiosqlite:///{scratch / name}.db")
    url = make_url(base_url)
    admin = await asyncpg.connect(
        url.set(drivername="postgresql").render_as_string(hide_password=False)
    )
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return Database(url.set(database=name).render_as_string(hide_password=False))


async def drop_database(base_url: str | None, db: Database) -> None:
    if base_url is None:
        return
    url = make_url(base_url)
    admin = await asyncpg.connect(
        url.set(drivername="postgresql").render_as_string(hide_password=False)
    )
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{make_url(db.url).database}"')
    finally:
        await admin.close()


# -- the gateway, as processes ---------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def gateway_processes(
    db: Database, env_keys: dict[str, str], port: int, workers: int, chunk: int | None
) -> Iterator[tuple[str, list[int]]]:
    """The server and workers running; yields the base URL and their pids."""
    env = {
        **os.environ,
        **env_keys,
        "GATEWAY_DATABASE_URL": db.url,
        "GATEWAY_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "GATEWAY_WORKERS_IN_PROCESS": "false",
        "GATEWAY_JOB_POLL_SECONDS": "0.05",
        "GATEWAY_LOG_LEVEL": "WARNING",
        "GATEWAY_LOG_FORMAT": "json",
    }
    if chunk:
        env["GATEWAY_BATCH_CHUNK_SIZE"] = str(chunk)
    cli = [sys.executable, "-m", "gateway.cli"]
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    procs = [subprocess.Popen([*cli, "serve", "--port", str(port)], env=env, **quiet)]  # type: ignore[call-overload]
    procs += [subprocess.Popen([*cli, "worker"], env=env, **quiet) for _ in range(workers)]  # type: ignore[call-overload]
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code < 500:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        else:
            raise RuntimeError("the gateway did not start")
        yield base, [p.pid for p in procs]
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


async def add_staff(db: Database, env_keys: dict[str, str]) -> None:
    """Two staff accounts straight in the database (what `gateway users add` does)."""
    os.environ.update(env_keys)
    from gateway.db import create_engine, session_factory  # noqa: PLC0415
    from gateway.settings import Settings  # noqa: PLC0415
    from gateway.staff.service import add_user  # noqa: PLC0415

    engine = create_engine(Settings(database_url=db.url))
    try:
        async with session_factory(engine)() as session:
            await add_user(session, "bench-maker", ["ops_maker"], PASSWORD)
            await add_user(session, "bench-checker", ["ops_checker"], PASSWORD)
            await session.commit()
    finally:
        await engine.dispose()


@dataclass
class Partner:
    client: httpx.AsyncClient
    base: str
    private_jwk: dict[str, Any]
    token: str

    def signed(
        self, method: str, path: str, body: bytes, headers: dict[str, str]
    ) -> dict[str, str]:
        out = {"Authorization": f"Bearer {self.token}", **headers}
        out.update(
            sign_request(
                method=method,
                target_uri=self.base + path,
                headers={k.lower(): v for k, v in out.items()},
                body=body,
                private_jwk=self.private_jwk,
                key_id=str(self.private_jwk["kid"]),
            )
        )
        return out


async def onboard(client: httpx.AsyncClient, base: str) -> Partner:
    """Apply, review (maker), approve (checker) and take a token, as a partner would."""
    rng = random.Random(7)
    key = OKPKey.generate_key("Ed25519")
    kid = key.thumbprint()
    private = {**key.as_dict(private=True), "kid": kid}
    public = {**key.as_dict(private=False), "kid": kid}
    application = {
        "legal_name": "Bench Property Management Co.",
        "uscc": fake_uscc(rng),
        "legal_representative": "王小明",
        "contact": {"name": "李四", "phone": "13800138000", "email": "ops@example.test"},
        "scenarios": [SCENARIO],
        "cooperation_mode": "customer_referral",
        "settlement_account": {
            "account_name": "Bench Property Management Co.",
            "account_no": fake_account_no(rng),
        },
        "jwks": {"keys": [public]},
        "scenario_profile": {},
    }
    applied = await client.post("/v1/partner-applications", json=application)
    applied.raise_for_status()
    app_id = applied.json()["id"]
    for user, step in (("bench-maker", "review"), ("bench-checker", "approve")):
        login = await client.post(
            "/admin/v1/sessions", json={"username": user, "password": PASSWORD}
        )
        login.raise_for_status()
        body = {"recommendation": "approve"} if step == "review" else {}
        done = await client.post(
            f"/admin/v1/partner-applications/{app_id}/{step}",
            json=body,
            headers={"Authorization": f"Bearer {login.json()['token']}"},
        )
        done.raise_for_status()
    creds = done.json()
    basic = base64.b64encode(f"{creds['client_id']}:{creds['client_secret']}".encode()).decode()
    token = await client.post(
        "/v1/oauth/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": f"Basic {basic}"},
    )
    token.raise_for_status()
    return Partner(client, base, private, token.json()["access_token"])


class StatusProbe:
    """Reads a batch's status straight from the database, on one connection for the whole run."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._pg: asyncpg.Connection | None = None
        self._sqlite: sqlite3.Connection | None = None

    async def __aenter__(self) -> StatusProbe:
        if self.db.is_pg:
            self._pg = await asyncpg.connect(self.db.dsn())
        else:
            self._sqlite = sqlite3.connect(self.db.dsn(), timeout=30)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._pg is not None:
            await self._pg.close()
        if self._sqlite is not None:
            self._sqlite.close()

    async def backend_pids(self) -> list[int]:
        """The PostgreSQL server processes of the gateway's connections (not this probe's)."""
        if self._pg is None:
            return []
        rows = await self._pg.fetch(
            "SELECT pid FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return [int(r["pid"]) for r in rows]

    async def status(self, batch_id: str) -> tuple[str, int]:
        sql = "SELECT status, processed FROM account_batches WHERE id = {}"
        if self._pg is not None:
            row = await self._pg.fetchrow(sql.format("$1"), batch_id)
            assert row is not None
            return str(row["status"]), int(row["processed"])
        assert self._sqlite is not None
        status, processed = self._sqlite.execute(sql.format("?"), (batch_id,)).fetchone()
        self._sqlite.commit()  # end the read so the next one sees new commits
        return str(status), int(processed)


async def run_gateway(
    db: Database, body: bytes, rows: int, env_keys: dict[str, str], workers: int, chunk: int | None
) -> float:
    """Seconds from the upload to ``completed``, through a real server and real workers."""
    await asyncio.to_thread(migrate.upgrade, db.url)
    await add_staff(db, env_keys)
    port = free_port()
    with gateway_processes(db, env_keys, port, workers, chunk) as (base, pids):
        async with httpx.AsyncClient(base_url=base, timeout=600) as client:
            partner = await onboard(client, base)
            path = f"/v1/account-batches?scenario={SCENARIO}"
            headers = partner.signed(
                "POST", path, body, {"Content-Type": "text/csv", "Idempotency-Key": new_id("idk")}
            )
            started = time.perf_counter()
            resp = await client.post(path, content=body, headers=headers)
            if resp.status_code != 202:
                raise RuntimeError(f"upload refused: {resp.status_code} {resp.text[:500]}")
            batch_id = resp.json()["id"]
            accepted = time.perf_counter() - started
            async with StatusProbe(db) as probe:
                cpu_before = cpu_seconds(pids)
                db_before = {pid: cpu_seconds([pid]) for pid in await probe.backend_pids()}
                while True:
                    status, processed = await probe.status(batch_id)
                    if status not in ("queued", "processing"):
                        break
                    await asyncio.sleep(0.05)
                elapsed = time.perf_counter() - started
                gateway_cpu = cpu_seconds(pids) - cpu_before
                db_cpu = sum(
                    cpu_seconds([pid]) - db_before.get(pid, 0.0)
                    for pid in await probe.backend_pids()
                )
            path = f"/v1/account-batches/{batch_id}"
            final = await client.get(path, headers=partner.signed("GET", path, b"", {}))
            data = final.json()
    if (data["status"], data["opened"]) != ("completed", rows):
        raise RuntimeError(f"batch ended {data}")
    print(
        f"    gateway: upload accepted in {accepted:.2f}s, completed in {elapsed:.2f}s "
        f"({processed} rows); CPU after the upload: gateway processes {gateway_cpu:.2f}s, "
        f"PostgreSQL backends {db_cpu:.2f}s = "
        f"{(gateway_cpu + db_cpu) / rows * 1000:.2f} ms per row",
        flush=True,
    )
    return elapsed


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU the processes have used so far (Linux ``/proc``; 0 elsewhere)."""
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / tick


# -- the baseline ----------------------------------------------------------------------------


def baseline_records(
    body: bytes, vault: PiiVault
) -> dict[str, tuple[list[str], list[tuple[Any, ...]]]]:
    """Every row checked, indexed and encrypted as the gateway does, as records per table."""
    day = today()
    now = datetime.now(UTC)
    partner_id, batch_id = new_id("ptn"), new_id("acb")
    accounts, customers, links, touchpoints, items = [], [], [], [], []
    reader = csv.DictReader(io.StringIO(body.decode("utf-8-sig"), newline=""))
    for n, r in enumerate(reader, start=1):
        name, id_number, phone, ref = r["name"], r["id_number"], r["phone"], r["external_ref"]
        if check_identity(name, id_number, phone, day) is not None:
            raise RuntimeError(f"row {n} is invalid")
        index = vault.blind_index("id_number", id_number)
        customer_id = new_id("cus")
        account_no = new_account_no(PERSONAL_PREFIX)
        accounts.append(
            (account_no, f"open:{index[:48]}", "personal_class_ii", "active", customer_id,
             mask_name(name), index, None, 0, 0, now, now)
        )  # fmt: skip
        customers.append(
            (customer_id, index, vault.blind_index("phone", phone),
             vault.encrypt(name, context="customer.name"),
             vault.encrypt(id_number.upper(), context="customer.id_number"),
             vault.encrypt(phone, context="customer.phone"),
             vault.encrypt(account_no, context="customer.account_no"),
             ric.get_birth_date(id_number), partner_id, now)
        )  # fmt: skip
        links.append((partner_id, customer_id, ref, now))
        touchpoints.append(
            (new_id("tch"), customer_id, partner_id, SCENARIO, None, None, None, "opened",
             batch_id, None, now)
        )  # fmt: skip
        items.append((batch_id, n, ref, index, "", "opened", customer_id, None, None))
    return {
        "sandbox_accounts": (
            ["account_no", "reference", "kind", "status", "customer_ref", "holder_name_masked",
             "id_number_hash", "bound_account_no", "balance", "version", "created_at",
             "updated_at"],
            accounts,
        ),
        "customers": (
            ["id", "id_index", "phone_index", "name", "id_number", "phone", "account_no",
             "birth_date", "acquired_by", "created_at"],
            customers,
        ),
        "customer_links": (["partner_id", "customer_id", "external_ref", "created_at"], links),
        "touchpoints": (
            ["id", "customer_id", "partner_id", "scenario", "sub_channel", "campaign",
             "referral_code", "kind", "batch_id", "context", "created_at"],
            touchpoints,
        ),
        "account_batch_items": (
            ["batch_id", "row", "external_ref", "id_index", "payload", "status", "customer_id",
             "error_code", "error_message"],
            items,
        ),
    }  # fmt: skip


BATCH_ROW = (
    "INSERT INTO account_batches (id, partner_id, scenario, status, total, processed, opened, "
    "existing, rejected, created_at) VALUES ({})"
)


async def run_baseline(db: Database, body: bytes, vault: PiiVault) -> float:
    await asyncio.to_thread(migrate.upgrade, db.url)
    baseline_records(csv_body(10), vault)  # loads stdnum's region table, as a warm server has
    started, cpu = time.perf_counter(), time.process_time()
    db_cpu = 0.0
    tables = baseline_records(body, vault)
    batch_id = tables["account_batch_items"][1][0][0]
    rows = len(tables["customers"][1])
    batch = (batch_id, "ptn_bench", SCENARIO, "completed", rows, rows, rows, 0, 0)
    if db.is_pg:
        conn = await asyncpg.connect(db.dsn())
        backend = [conn.get_server_pid()]
        db_cpu = -cpu_seconds(backend)
        try:
            async with conn.transaction():
                await conn.execute(
                    BATCH_ROW.format(", ".join(f"${i}" for i in range(1, 10)) + ", now()"),
                    *batch,
                )
                for table, (columns, records) in tables.items():
                    await conn.copy_records_to_table(table, records=records, columns=columns)
            db_cpu += cpu_seconds(backend)
        finally:
            await conn.close()
    else:
        with sqlite3.connect(db.dsn()) as conn:
            conn.execute(BATCH_ROW.format("?, ?, ?, ?, ?, ?, ?, ?, ?, CURRENT_TIMESTAMP"), batch)
            for table, (columns, records) in tables.items():
                marks = ", ".join("?" for _ in columns)
                conn.executemany(
                    f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})",  # noqa: S608
                    [tuple(_sqlite(v) for v in r) for r in records],
                )
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    print(
        f"    baseline: CPU {cpu:.2f}s, PostgreSQL backend {db_cpu:.2f}s = "
        f"{(cpu + db_cpu) / rows * 1000:.2f} ms per row",
        flush=True,
    )
    return elapsed


def _sqlite(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, date):
        return value.isoformat()
    return value


# -- the run ---------------------------------------------------------------------------------


async def measure(
    args: argparse.Namespace, rows: int, env_keys: dict[str, str], vault: PiiVault, scratch: Path
) -> tuple[float, float]:
    body = csv_body(rows)
    tag = f"bench_batch_{os.getpid()}_{rows}"
    gw_db = await fresh_database(args.database_url, f"{tag}_gw", scratch)
    base_db = await fresh_database(args.database_url, f"{tag}_base", scratch)
    try:
        gateway = await run_gateway(gw_db, body, rows, env_keys, args.workers, args.chunk)
        baseline = await run_baseline(base_db, body, vault)
    finally:
        if not args.keep:
            await drop_database(args.database_url, gw_db)
            await drop_database(args.database_url, base_db)
    print(
        f"  {rows:>7,} rows: gateway {rows / gateway:>8,.0f} rows/s ({gateway:.2f}s)   "
        f"baseline {rows / baseline:>8,.0f} rows/s ({baseline:.2f}s)   "
        f"ratio {baseline / gateway:.2f}x",
        flush=True,
    )
    return gateway, baseline


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument(
        "--database-url",
        help="a PostgreSQL URL (postgresql+asyncpg://…) whose server gets fresh databases; "
        "default: SQLite files in a temporary directory",
    )
    parser.add_argument("--workers", type=int, default=1, help="job worker processes")
    parser.add_argument("--chunk", type=int, help="GATEWAY_BATCH_CHUNK_SIZE (default: settings)")
    parser.add_argument("--keep", action="store_true", help="keep the PostgreSQL databases")
    args = parser.parse_args()

    pii_key = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
    env_keys = {
        "GATEWAY_SECRET_KEY": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
        "GATEWAY_PII_KEY": pii_key,
        "GATEWAY_ENV": "development",
    }
    vault = PiiVault(base64.urlsafe_b64decode(pii_key))
    engine = "PostgreSQL" if args.database_url else "SQLite"
    print(
        f"batch opening, {engine}, {args.workers} worker(s), CSV upload",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="bench-batch-") as tmp:
        small = await measure(args, args.rows // 10, env_keys, vault, Path(tmp))
        full = await measure(args, args.rows, env_keys, vault, Path(tmp))
    slope_gw = (full[0] / args.rows) / (small[0] / (args.rows // 10))
    slope_base = (full[1] / args.rows) / (small[1] / (args.rows // 10))
    marginal = (args.rows - args.rows // 10) / (full[0] - small[0])
    print(
        json.dumps(
            {
                "engine": engine,
                "rows": args.rows,
                "gateway_rows_per_s": round(args.rows / full[0]),
                "baseline_rows_per_s": round(args.rows / full[1]),
                "ratio": round(full[1] / full[0], 3),
                "slope_gateway": round(slope_gw, 3),
                "slope_baseline": round(slope_base, 3),
                "gateway_marginal_rows_per_s": round(marginal),
            }
        ),
        flush=True,
    )
    print(
        f"slope (time per row at {args.rows:,} / at {args.rows // 10:,}; 1.0 is linear): "
        f"gateway {slope_gw:.2f}, baseline {slope_base:.2f}"
    )


if __name__ == "__main__":
    asyncio.run(main())
