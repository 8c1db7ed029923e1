"""A bounded soak: a steady mixed signed workload against real servers, then the invariants.

    .venv/bin/python -m bench.soak --minutes 5                     # one replica, SQLite
    .venv/bin/python -m bench.soak --minutes 5 --replicas 2 \\
        --database-url postgresql+asyncpg://root@127.0.0.1:5432/soak   # an empty database

Starts ``--replicas`` gateway servers (``uvicorn``, one worker each, loopback) on one database,
onboards a partner through the API and opens its community customers through an account batch.
Then, for ``--minutes``, sends ``--rate`` requests per second (open loop: the schedule does not
wait for slow answers) spread over the replicas: signed reads of ``/v1/partners/me`` and bill
payments, each with a fresh nonce and an Idempotency-Key; a share of the payments is retried with
the same key on the *other* replica, as a client would after a timeout.

At the end it checks, and exits non-zero when one fails:

- no 5xx, no answer other than the expected ones and no failed connection (error rate, target
  0); a request due while ``--concurrency`` are in flight is not sent but counted, so a saturated
  server shows as a shortfall in req/s instead of a queue that outlives the soak;
- every retried payment answered with the payment its key first created (no second payment);
- one ``transactions`` row per paid bill and per key, and the ledger's trial balance total is 0;
- each server's resident memory (RSS) at the end against the start after warm-up
  (``--max-rss-growth-mb``, default 64), with the samples in between, so growth is visible.
It prints the figures (requests, req/s achieved, p50/p99, errors, RSS per minute).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import random
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

from bench.harness import Server, serve

GATEWAY_FACTORY = "gateway.app:create_app_from_env"
READ_PATH = "/v1/partners/me"
TRANSPORT_ATTEMPTS = 3
PAY_PATH = "/v1/scenarios/community/payments"


def rss_mb(pid: int) -> float:
    """Resident set size of a process, in MiB (from /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return math.nan


@dataclass
class Tally:
    """What the workload saw."""

    statuses: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    payments: dict[str, str] = field(default_factory=dict)  # idempotency key -> payment id
    paid_bills: set[str] = field(default_factory=set)
    replays: int = 0
    replay_mismatches: list[str] = field(default_factory=list)
    transport_errors: Counter[str] = field(default_factory=Counter)
    not_sent: int = 0  # due while --concurrency requests were already in flight

    def record(self, kind: str, response: httpx.Response, seconds: float, expected: int) -> None:
        self.statuses[f"{kind} {response.status_code}"] += 1
        self.latencies.append(seconds)
        if response.status_code != expected and len(self.unexpected) < 20:
            self.unexpected.append(f"{kind} {response.status_code} {response.text[:300]}")

    @property
    def errors(self) -> int:
        answered = sum(n for key, n in self.statuses.items() if not key.endswith((" 200", " 201")))
        return answered + sum(self.transport_errors.values())

    def percentile(self, q: float) -> float:
        data = sorted(self.latencies)
        return data[max(0, math.ceil(q / 100 * len(data)) - 1)] * 1000 if data else math.nan


class Workload:
    """Signed reads and payments with idempotency keys, spread over the replicas."""

    def __init__(
        self, bench: Any, clients: Sequence[httpx.AsyncClient], bills: list[Any], args: Any
    ) -> None:
        self.bench, self.clients, self.bills, self.args = bench, clients, bills, args
        self.tally = Tally()
        self.rng = random.Random(args.seed)

    async def _send(
        self, client: httpx.AsyncClient, method: str, path: str, body: bytes, key: str | None
    ) -> tuple[httpx.Response, float]:
        """Send, resending (same Idempotency-Key, fresh signature) when the connection fails, as
        a client must when it cannot tell whether a payment was made; each failure is counted."""
        extra = {"Idempotency-Key": key} if key else {}
        for attempt in range(TRANSPORT_ATTEMPTS):
            headers = self.bench.partner.sign(method, path, body, extra)  # a fresh nonce
            started = time.perf_counter()
            try:
                response = await client.request(method, path, content=body or None, headers=headers)
            except httpx.TransportError as e:
                self.tally.transport_errors[type(e).__name__] += 1
                if attempt == TRANSPORT_ATTEMPTS - 1:
                    raise
                continue
            return response, time.perf_counter() - started
        raise AssertionError("unreachable")

    async def read(self, n: int) -> None:
        client = self.clients[n % len(self.clients)]
        response, seconds = await self._send(client, "GET", READ_PATH, b"", None)
        self.tally.record("read", response, seconds, 200)

    async def pay(self, n: int, bill: Any) -> None:
        _, path, payload = bill
        body = httpx.Request("POST", "/", json=payload).content
        key = str(uuid.uuid4())
        first = self.clients[n % len(self.clients)]
        response, seconds = await self._send(first, "POST", path, body, key)
        self.tally.record("pay", response, seconds, 201)
        if response.status_code != 201:
            return
        payment = response.json()["id"]
        self.tally.payments[key] = payment
        self.tally.paid_bills.add(payload["bill_id"])
        if self.rng.random() < self.args.retry_share:
            other = self.clients[(n + 1) % len(self.clients)]
            again, seconds = await self._send(other, "POST", path, body, key)
            self.tally.replays += 1
            self.tally.record("retry", again, seconds, 201)
            if again.status_code == 201 and again.json()["id"] != payment:
                self.tally.replay_mismatches.append(f"{key}: {payment} then {again.json()['id']}")

    async def run(self, seconds: float, on_tick: Any) -> None:
        """Open loop at ``--rate``: request i is due at i/rate, whoever answered before it."""
        total = int(seconds * self.args.rate)
        bills = iter(self.bills)
        gate = asyncio.Semaphore(self.args.concurrency)
        tasks: set[asyncio.Task[None]] = set()
        started = time.monotonic()
        next_tick = started + 30

        async def one(n: int) -> None:
            async with gate:
                bill = next(bills, None) if self.rng.random() < self.args.pay_share else None
                with contextlib.suppress(httpx.TransportError):  # counted by _send
                    await (self.pay(n, bill) if bill else self.read(n))

        for n in range(total):
            due = started + n / self.args.rate
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            if len(tasks) >= self.args.concurrency:  # the servers are behind: do not queue
                self.tally.not_sent += 1
                continue
            task = asyncio.create_task(one(n))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            if time.monotonic() >= next_tick:
                on_tick(time.monotonic() - started)
                next_tick += 30
        await asyncio.gather(*tasks)


async def _invariants(bench: Any, sessions: Any, tally: Tally) -> list[str]:
    failures = []
    admin = await bench.staff.token(f"soak-finance-{uuid.uuid4().hex[:8]}", "finance")
    trial = await bench.client.get("/admin/v1/ledger/trial-balance", headers=admin)
    if trial.status_code != 200 or trial.json()["total"] != 0:
        failures.append(f"trial balance: {trial.status_code} {trial.text[:300]}")
    async with sessions() as session:
        rows = (
            await session.execute(
                sa.text("SELECT id FROM transactions WHERE partner_id = :p AND kind = 'payment'"),
                {"p": bench.partner.partner_id},
            )
        ).all()
    ids = [r[0] for r in rows]
    created = set(tally.payments.values())
    if len(ids) != len(set(ids)) or set(ids) != created:
        failures.append(
            f"payments: {len(ids)} transaction rows, {len(set(ids))} distinct, "
            f"{len(created)} created by distinct keys"
        )
    if len(created) != len(tally.paid_bills):
        failures.append(f"{len(created)} payments for {len(tally.paid_bills)} bills")
    if tally.replay_mismatches:
        failures.append(f"retries created new payments: {tally.replay_mismatches[:3]}")
    return failures


def _log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


async def soak(args: argparse.Namespace, env: dict[str, str], work: Path) -> int:
    from bench import _setup  # noqa: PLC0415
    from bench.partner_api import CommunityPayment  # noqa: PLC0415

    sessions = _setup.session_maker(env["GATEWAY_DATABASE_URL"])
    seconds = args.minutes * 60
    with contextlib.ExitStack() as stack:
        servers: list[Server] = [
            stack.enter_context(serve(f"gateway-{n}", GATEWAY_FACTORY, env, work))
            for n in range(args.replicas)
        ]
        clients = [httpx.AsyncClient(base_url=s.url, timeout=60) for s in servers]
        try:
            bench = await _setup.onboard_partner(clients[0], sessions, ["community"], env, work)
            write = CommunityPayment()
            await write.setup(bench)
            payments = math.ceil(seconds * args.rate * args.pay_share * 1.2) + 10
            _log(f"{args.replicas} replica(s) up; issuing {payments} bills to pay")
            bills = await write.calls(bench, payments)
            workload = Workload(bench, clients, bills, args)
            _log("warm-up")
            warm = Workload(bench, clients, [], args)
            await warm.run(min(10.0, seconds / 10), lambda _: None)
            if warm.tally.errors:
                _log(f"warm-up: {warm.tally.errors} errors {warm.tally.unexpected[:2]}")
            await bench.partner.fetch_token()
            start_rss = [rss_mb(s.proc.pid) for s in servers]
            samples: list[tuple[float, list[float]]] = [(0.0, start_rss)]
            pending: set[asyncio.Task[str]] = set()

            def tick(elapsed: float) -> None:
                rss = [rss_mb(s.proc.pid) for s in servers]
                samples.append((elapsed, rss))
                _log(
                    f"{elapsed:5.0f} s: {len(workload.tally.latencies)} answers, "
                    f"{workload.tally.errors} errors, RSS {', '.join(f'{r:.0f}' for r in rss)} MiB"
                )
                # tokens live 15 minutes; a long soak outlives one
                refresh = asyncio.get_running_loop().create_task(bench.partner.fetch_token())
                pending.add(refresh)
                refresh.add_done_callback(pending.discard)

            _log(f"soak: {args.rate} req/s for {args.minutes} min")
            began = time.monotonic()
            await workload.run(seconds, tick)
            took = time.monotonic() - began
            samples.append((took, [rss_mb(s.proc.pid) for s in servers]))
            failures = await _invariants(bench, sessions, workload.tally)
        finally:
            for c in clients:
                await c.aclose()
            await sessions.kw["bind"].dispose()
    return report(args, workload.tally, took, samples, failures)


def report(
    args: argparse.Namespace,
    tally: Tally,
    took: float,
    samples: list[tuple[float, list[float]]],
    failures: list[str],
) -> int:
    """Print the figures and the invariants; 1 when one failed."""
    answers = len(tally.latencies)
    five_xx = sum(n for key, n in tally.statuses.items() if key.split()[-1].startswith("5"))
    print(f"soak: {args.replicas} replica(s), {args.minutes} min at {args.rate} req/s target")
    print(
        f"  answers {answers:,} ({answers / took:,.1f} req/s achieved), not sent because "
        f"{args.concurrency} were in flight: {tally.not_sent:,}"
    )
    print(f"  statuses {dict(tally.statuses)}, transport errors {dict(tally.transport_errors)}")
    print(
        f"  error rate {tally.errors / max(1, answers):.4%} "
        f"({tally.errors} errors, {five_xx} 5xx), "
        f"p50 {tally.percentile(50):.1f} ms, p99 {tally.percentile(99):.1f} ms"
    )
    print(
        f"  payments {len(tally.payments):,} (bills paid {len(tally.paid_bills):,}), "
        f"retries with the same key {tally.replays:,}"
    )
    for elapsed, rss in samples:
        print(f"  RSS at {elapsed:5.0f} s: {', '.join(f'{r:.1f}' for r in rss)} MiB")
    growth = [end - start for start, end in zip(samples[0][1], samples[-1][1], strict=True)]
    print(f"  RSS growth start→end: {', '.join(f'{g:+.1f}' for g in growth)} MiB")
    if tally.errors or five_xx:
        failures.append(f"{tally.errors} unexpected answers: {tally.unexpected[:3]}")
    if any(g > args.max_rss_growth_mb for g in growth):
        failures.append(f"RSS grew by more than {args.max_rss_growth_mb} MiB: {growth}")
    for failure in failures:
        print(f"  FAILED: {failure}")
    print("  invariants: " + ("all held" if not failures else f"{len(failures)} failed"))
    return 1 if failures else 0


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--rate", type=float, default=40.0, help="requests per second")
    parser.add_argument("--replicas", type=int, default=1, help="gateway server processes")
    parser.add_argument("--pay-share", type=float, default=0.3, help="share of payments")
    parser.add_argument("--retry-share", type=float, default=0.2, help="payments retried")
    parser.add_argument("--concurrency", type=int, default=64, help="requests in flight, at most")
    parser.add_argument("--max-rss-growth-mb", type=float, default=64.0)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--database-url", help="an empty database; default: SQLite in a temp dir")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="bench-soak-"))
    url = args.database_url or f"sqlite+aiosqlite:///{work}/soak.db"
    from bench._setup import gateway_env  # noqa: PLC0415

    _log(f"work directory {work}; migrating {url.split('@')[-1]}")
    env = gateway_env(url, work)
    try:
        return asyncio.run(soak(args, env, work))
    finally:
        if not args.keep:
            import shutil  # noqa: PLC0415

            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
