"""The gateway side of ``bench/partner_api.py``: a migrated database, staff, one approved partner.

Everything a partner does goes through the public API of a running gateway, signed the way the
test suite signs (:mod:`tests.partners.support`); only what has no API is done through the
project's services: creating the staff users, and lifting the partner's rate limit so every
request still pays for the limiter but none is turned away.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import subprocess
import sys
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, time
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from bench.harness import http_request
from gateway import clock
from gateway.db import create_engine, session_factory
from gateway.partners.models import Partner
from gateway.risk.models import EventType, RiskDecision
from gateway.settings import Settings
from tests.conftest import StaffFactory
from tests.customers.support import people
from tests.partners.support import PUBLIC_URL, PartnerHandle, onboard

UNLIMITED = 1_000_000_000
BATCH_TIMEOUT_SECONDS = 300


async def redis_reachable(url: str) -> bool:
    client = Redis.from_url(url, socket_connect_timeout=2)
    try:
        return bool(await client.ping())  # type: ignore[misc]
    except OSError:
        return False
    finally:
        await client.aclose()


def add_business_time(parser: argparse.ArgumentParser) -> None:
    """``--at``: the hour of the Shanghai day the gateway's business clock runs at."""
    parser.add_argument(
        "--at",
        default="12:00",
        help="Asia/Shanghai time of day the gateway runs at (GATEWAY_CLOCK_SHIFT_SECONDS), so "
        "time-of-day rules such as night_burst meet the same traffic on every run; 'now' keeps "
        "the wall clock (default: 12:00)",
    )


def shift_to(at: str, now: datetime | None = None) -> int:
    """Seconds from ``now`` to ``at`` (``HH:MM``, Asia/Shanghai) on the same Shanghai date;
    0 for ``now``."""
    if at == "now":
        return 0
    moment = (now or clock.now()).astimezone(clock.SHANGHAI)
    target = datetime.combine(moment.date(), time.fromisoformat(at), tzinfo=clock.SHANGHAI)
    return round((target - moment).total_seconds())


def business_time(env: Mapping[str, str]) -> str:
    """The line a benchmark prints about the clock its gateway ran on."""
    shift = int(env.get("GATEWAY_CLOCK_SHIFT_SECONDS", "0"))
    at = clock.now().astimezone(clock.SHANGHAI).strftime("%H:%M")
    return f"business time: {at} Asia/Shanghai (the wall clock shifted by {shift:+d} s)"


async def decision_counts(
    sessions: async_sessionmaker[AsyncSession], event_type: EventType | None = None
) -> dict[str, int]:
    """Risk decisions so far by outcome (of one event type): a fuel figure taken on the review
    path (case, hold, event) is not comparable with one taken on the allow path."""
    stmt = sa.select(col(RiskDecision.outcome), sa.func.count()).group_by(col(RiskDecision.outcome))
    if event_type is not None:
        stmt = stmt.where(col(RiskDecision.event_type) == event_type.value)
    async with sessions() as session:
        return {str(outcome): int(n) for outcome, n in (await session.execute(stmt)).all()}


def gateway_env(
    database_url: str, work: Path, public_url: str = PUBLIC_URL, *, at: str = "now"
) -> dict[str, str]:
    """The environment a benchmark's gateway processes share: fresh secrets and key file in
    ``work``, jobs out of process, JSON logs, business time at ``at`` (:func:`shift_to`). Also
    applied to this process (which onboards through the same settings), and the database is
    migrated."""
    from gateway import migrate  # noqa: PLC0415

    shift = shift_to(at)
    clock.shift_process(shift)

    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env |= {
        "GATEWAY_DATABASE_URL": database_url,
        "GATEWAY_PUBLIC_URL": public_url,
        "GATEWAY_SECRET_KEY": secrets.token_urlsafe(32),
        "GATEWAY_PII_KEY": secrets.token_urlsafe(32),
        "GATEWAY_KEY_FILE": str(work / "keys.json"),
        "GATEWAY_WORKERS_IN_PROCESS": "false",
        "GATEWAY_LOG_FORMAT": "json",
        "GATEWAY_JOB_POLL_SECONDS": "0.1",
        "GATEWAY_CLOCK_SHIFT_SECONDS": str(shift),
    }
    os.environ.update({k: v for k, v in env.items() if k.startswith("GATEWAY_")})
    migrate.upgrade(database_url)
    return env


@dataclass
class Bench:
    """One approved partner on a running gateway, and the staff who can fund its customers."""

    client: httpx.AsyncClient
    staff: StaffFactory
    partner: PartnerHandle
    worker_env: Mapping[str, str]
    log_dir: Path

    async def admin(self) -> dict[str, str]:
        return await self.staff.token(f"bench-admin-{uuid.uuid4().hex[:8]}", "admin")

    def signed(self, method: str, path: str, body: Any = None) -> bytes:
        """A signed request (fresh nonce; a fresh Idempotency-Key on POST), serialised."""
        raw = json.dumps(body).encode() if body is not None else b""
        extra = {"Idempotency-Key": str(uuid.uuid4())} if method == "POST" else {}
        return http_request(method, path, self.partner.sign(method, path, raw, extra), raw)

    async def call(self, method: str, path: str, body: Any = None) -> Any:
        resp = await self.partner.call(method, path, body)
        if resp.status_code >= 300:
            raise RuntimeError(f"{method} {path}: {resp.status_code} {resp.text}")
        return resp.json()

    async def open_customers(
        self, scenario: str, count: int, seed: int, sub_channel: str | None = None
    ) -> list[str]:
        """Open ``count`` customers through an account batch, run by a ``gateway worker``."""
        items = [  # refs unique per call: a partner may open several batches
            row | {"external_ref": f"{seed:x}-{n}"} for n, row in enumerate(people(seed, count))
        ]
        body = {"scenario": scenario, "items": items, "sub_channel": sub_channel}
        batch = await self.call("POST", "/v1/account-batches", body)
        with (self.log_dir / "worker.log").open("ab") as log:
            worker = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "gateway.cli",
                "worker",
                env=dict(self.worker_env),
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            for _ in range(BATCH_TIMEOUT_SECONDS * 4):
                state = await self.call("GET", f"/v1/account-batches/{batch['id']}")
                if state["status"] not in ("queued", "processing"):
                    break
                await asyncio.sleep(0.25)
            else:
                raise TimeoutError("the account batch did not finish")
        finally:
            worker.terminate()
            await asyncio.wait_for(worker.wait(), timeout=20)
        if state["opened"] != count:
            raise RuntimeError(f"account batch: {state}")
        ids: list[str] = []
        page = f"/v1/account-batches/{batch['id']}/items?limit=500"
        while True:  # every page: the fuel benchmarks open a driver per plate, often over 500
            items = await self.call("GET", page)
            ids += [str(i["customer_id"]) for i in items["data"]]
            if not items["next_cursor"]:
                return ids
            page = (
                f"/v1/account-batches/{batch['id']}/items?limit=500&cursor={items['next_cursor']}"
            )

    async def fund(self, customer_id: str, amount: int, admin: dict[str, str]) -> None:
        resp = await self.client.post(
            f"/admin/v1/sandbox/customers/{customer_id}/deposits",
            json={"amount": amount},
            headers=admin,
        )
        if resp.status_code != 201:
            raise RuntimeError(f"deposit: {resp.status_code} {resp.text}")


def session_maker(database_url: str) -> async_sessionmaker[AsyncSession]:
    return session_factory(create_engine(Settings(database_url=database_url)))


async def onboard_partner(
    client: httpx.AsyncClient,
    sessions: async_sessionmaker[AsyncSession],
    scenarios: list[str],
    worker_env: Mapping[str, str],
    log_dir: Path,
) -> Bench:
    """Apply, review and approve a partner through the API; lift its rate limit; take a token."""
    staff = StaffFactory(sessions, client)
    partner = await onboard(client, staff, scenarios=scenarios, webhook_url=None)
    async with sessions.begin() as session:
        await session.execute(
            sa.update(Partner)
            .where(col(Partner.id) == partner.partner_id)
            .values(rate_limit_per_second=float(UNLIMITED), rate_limit_burst=UNLIMITED)
        )
    await partner.fetch_token()
    return Bench(client, staff, partner, worker_env, log_dir)


__all__ = ["PUBLIC_URL", "Bench", "onboard_partner", "redis_reachable", "session_maker"]
