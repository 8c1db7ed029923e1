"""The signed partner API against its baselines, served and measured in the same run (DESIGN §14).

    .venv/bin/python -m bench.partner_api                        # SQLite file in a temp dir
    .venv/bin/python -m bench.partner_api --database-url postgresql+asyncpg://root@127.0.0.1:5432/bench
    .venv/bin/python -m bench.partner_api --requests 40 --repeat 1 # a quick look

Real ``uvicorn`` processes (one worker each, loopback) serve: the baselines (a bare Litestar JSON
echo, and the minimal write endpoint: Litestar + the project's session, one INSERT + commit),
the gateway with nonces in the database, and the gateway with ``GATEWAY_REDIS_URL`` (nonces and
rate limits in Redis). Every target is driven closed-loop at ``--connections`` (32) for the
figures and ratios, at ``--low-connections`` (8) for the p99 that DESIGN §14 quotes, and at 1/10
of the request count for the slope. The signed write target is pluggable (:data:`WRITE_TARGETS`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import platform
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from bench import _fuel
from bench.harness import (
    Phase,
    Server,
    http_request,
    median_phase,
    run_load,
    serve,
    slope,
    table,
)
from gateway.risk.models import EventType

if TYPE_CHECKING:
    from bench._setup import Bench

GATEWAY_FACTORY = "gateway.app:create_app_from_env"
BASELINE_FACTORY = "bench._apps:create_baseline_app"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/13"
READ_PATH = "/v1/partners/me"


# --- the signed write: pluggable ---------------------------------------------------------------

WriteCall = tuple[str, str, Any]  # method, path, JSON body


class SignedWrite(Protocol):
    """A signed partner write to benchmark: what it needs set up, and one call per request.

    ``setup`` runs once on the gateway (through ``bench``: signed calls, customers opened by an
    account batch, sandbox deposits); ``calls`` returns ``count`` distinct calls that will each
    succeed once, creating whatever they consume (bills, mandates, funds) before it returns.
    """

    name: str
    scenario: str

    async def setup(self, bench: Bench) -> None: ...

    async def calls(self, bench: Bench, count: int) -> list[WriteCall]: ...


@dataclass
class CommunityPayment:
    """``POST /v1/scenarios/community/payments``: a funded owner pays a pre-issued bill in full.

    The write before the fuel adapter landed, kept for comparison: token, signature,
    idempotency, the shared ``collect`` (core debit, transaction, ledger journal, event) and the
    bill's update, in one commit.
    """

    name: str = "community payment"
    scenario: str = "community"
    owners: int = 32
    amount: int = 100  # fen per bill; well inside a Class II account's daily cap
    _community: str = ""
    _customers: list[str] = field(default_factory=list)
    _issued: int = 0

    async def setup(self, bench: Bench) -> None:
        community = await bench.call(
            "POST",
            "/v1/scenarios/community/communities",
            {
                "external_ref": f"bench-{secrets.token_hex(4)}",
                "name": "Benchmark Gardens",
                "address": "1 Loopback Rd",
                "households": 100_000,
            },
        )
        self._community = community["id"]
        self._customers = await bench.open_customers(
            "community", self.owners, seed=secrets.randbits(32), sub_channel=self._community
        )

    async def calls(self, bench: Bench, count: int) -> list[WriteCall]:
        bills: list[tuple[str, str]] = []
        for start in range(0, count, 5000):
            items = [
                {
                    "community_id": self._community,
                    "unit": f"u{self._issued + n}",
                    "customer_id": self._customers[(self._issued + n) % len(self._customers)],
                    "item": "property_fee",
                    "period": "2026-11",
                    "amount": self.amount,
                    "due_date": "2026-12-31",
                }
                for n in range(start, min(count, start + 5000))
            ]
            issued = await bench.call("POST", "/v1/scenarios/community/bills", {"items": items})
            bills += [(b["id"], b["customer_id"]) for b in issued["data"]]
        self._issued += count
        admin = await bench.admin()
        per_owner = math.ceil(count / len(self._customers)) * self.amount
        for customer in self._customers:
            await bench.fund(customer, per_owner, admin)
        return [
            ("POST", "/v1/scenarios/community/payments", {"bill_id": b, "customer_id": c})
            for b, c in bills
        ]


@dataclass
class FuelTransaction:
    """``POST /v1/scenarios/fuel/transactions``, the signed write DESIGN §14 names: token,
    signature, idempotency, inline risk, the mandate's sandbox core debit, transaction row,
    ledger journal and ``payment.succeeded`` event, in one commit."""

    name: str = "fuel transaction"
    scenario: str = "fuel"
    _station: str = ""
    _plates: int = 0

    async def setup(self, bench: Bench) -> None:
        self._station = await _fuel.open_station(bench)

    async def calls(self, bench: Bench, count: int) -> list[WriteCall]:
        needed = -(-count // _fuel.FUELINGS_PER_PLATE)
        _, plates = await _fuel.add_plates(bench, self._station, needed, first=self._plates)
        self._plates += needed
        slots = [plate for _ in range(_fuel.FUELINGS_PER_PLATE) for plate in plates][:count]
        path = f"{_fuel.BASE}/transactions"
        return [("POST", path, _fuel.fueling(self._station, plate)) for plate in slots]


WRITE_TARGETS: dict[str, Callable[[], SignedWrite]] = {
    "fuel-transaction": FuelTransaction,
    "community-payment": CommunityPayment,
}


# --- the run ------------------------------------------------------------------------------------


@dataclass
class Target:
    """A path to measure: its server and how to build ``n`` requests for it."""

    key: str
    label: str
    server: Server
    build: Callable[[int], Awaitable[list[bytes]]]


@dataclass
class Results:
    phases: dict[tuple[str, str], list[Phase]] = field(default_factory=dict)

    def add(self, target: str, kind: str, phase: Phase) -> None:
        self.phases.setdefault((target, kind), []).append(phase)

    def runs(self, target: str, kind: str) -> list[Phase]:
        return self.phases.get((target, kind), [])


def _echo_body(n: int) -> bytes:
    body = {"bill_id": f"bil_{n:026d}", "customer_id": f"cus_{n:026d}", "context": {"k": "v"}}
    return json.dumps(body).encode()


async def _echo_requests(n: int) -> list[bytes]:
    headers = {"Content-Type": "application/json"}
    return [http_request("POST", "/echo", headers, _echo_body(i)) for i in range(n)]


async def _write_requests(n: int) -> list[bytes]:
    headers = {"Content-Type": "application/json"}
    return [
        http_request(
            "POST",
            "/write",
            headers,
            json.dumps({"reference": secrets.token_hex(8), "amount": 100}).encode(),
        )
        for _ in range(n)
    ]


def _signed_reads(bench: Bench) -> Callable[[int], Awaitable[list[bytes]]]:
    async def build(n: int) -> list[bytes]:
        await bench.partner.fetch_token()  # tokens live 15 minutes; a long run outlives one
        return [bench.signed("GET", READ_PATH) for _ in range(n)]

    return build


def _signed_writes(bench: Bench, write: SignedWrite) -> Callable[[int], Awaitable[list[bytes]]]:
    async def build(n: int) -> list[bytes]:
        calls = await write.calls(bench, n)
        await bench.partner.fetch_token()
        return [bench.signed(method, path, body) for method, path, body in calls]

    return build


def _log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


async def _measure(
    targets: Sequence[Target], args: argparse.Namespace, results: Results, repeat: int
) -> None:
    for target in targets:
        size = args.write_requests if target.key.startswith("write-") else args.requests
        full, tenth = size, max(1, size // 10)
        plan = [
            ("full", args.connections, full),
            ("tenth", args.connections, tenth),
            ("low", args.low_connections, full),
        ]
        warm = await target.build(max(args.connections * 4, tenth))
        run_load("warm-up", target.server, warm, args.connections, client_procs=args.client_procs)
        for kind, conns, count in plan:
            requests = await target.build(count)
            label = target.label + (" (1/10)" if kind == "tenth" else "")
            phase = run_load(label, target.server, requests, conns, client_procs=args.client_procs)
            _log(
                f"repeat {repeat + 1} {label} @{conns}: {phase.rps:,.0f} req/s, "
                f"p99 {phase.p99:.1f} ms, errors {phase.errors}"
            )
            if phase.errors:
                raise RuntimeError(f"{label}: {phase.statuses} first: {phase.first_error}")
            results.add(target.key, kind, phase)


async def _profile_targets(targets: Sequence[Target], args: argparse.Namespace, work: Path) -> str:
    """Sample each named target's server with py-spy under the main concurrency."""
    from bench import _profile  # noqa: PLC0415

    if not _profile.available():
        raise SystemExit("--profile needs py-spy: .venv/bin/pip install py-spy")
    out = []
    for target in targets:
        if target.key not in args.profile.split(","):
            continue
        size = args.write_requests if target.key.startswith("write-") else args.requests
        warm = await target.build(max(args.connections * 4, size // 10))
        run_load("warm-up", target.server, warm, args.connections, client_procs=args.client_procs)
        requests = await target.build(size)
        raw = work / f"profile-{target.key}.txt"
        with _profile.record(target.server.proc.pid, raw):
            phase = run_load(
                target.label,
                target.server,
                requests,
                args.connections,
                client_procs=args.client_procs,
            )
        out += [
            "",
            f"== profile: {target.label} @{args.connections}: {phase.rps:,.0f} req/s "
            f"(under py-spy), {phase.server_ms_per_request:.2f} server CPU ms/req ==",
            _profile.summarize(raw, top=args.profile_top),
        ]
    return "\n".join(out)


def _ratio(results: Results, target: str, base: str, kind: str = "full") -> float:
    """Median over repeats of target/base req/s, each repeat against its own baseline."""
    pairs = zip(results.runs(target, kind), results.runs(base, kind), strict=True)
    return statistics.median(t.rps / b.rps for t, b in pairs)


def report(targets: Sequence[Target], results: Results, args: argparse.Namespace) -> str:
    lines = [
        "",
        f"== at {args.connections} connections, {args.requests} requests per phase "
        f"({args.write_requests} for the signed writes) ==",
    ]
    lines.append(table([results.runs(t.key, "full") for t in targets]))
    lines += ["", f"== at {args.low_connections} connections (p99 quoted here) =="]
    lines.append(table([results.runs(t.key, "low") for t in targets]))
    lines += ["", "== 1/10 size and slope =="]
    lines.append(table([results.runs(t.key, "tenth") for t in targets]))
    lines.append("")
    lines.append("slope k (time ∝ requests^k, 1.00 = linear):")
    for t in targets:
        ks = [
            slope(f, s)
            for f, s in zip(results.runs(t.key, "full"), results.runs(t.key, "tenth"), strict=True)
        ]
        lines.append(f"  {t.label:<40} k = {statistics.median(ks):.2f}")

    keys = {t.key for t in targets}
    lines += ["", "ratios (req/s at the main concurrency, median over repeats):"]
    for t in targets:
        if t.key in ("echo", "write"):
            continue
        lines.append(
            f"  {t.label:<40} {_ratio(results, t.key, 'write'):.2f}× the minimal write, "
            f"{_ratio(results, t.key, 'echo'):.2f}× the echo"
        )
    lines.append(f"  {'minimal write':<40} {_ratio(results, 'write', 'echo'):.2f}× the echo")

    echo = median_phase(results.runs("echo", "full"))
    lines += [
        "",
        f"client: {echo.client_ceiling:,.0f} req/s per client core against the echo "
        f"(it drove {echo.rps:,.0f}); a phase whose req/s nears its 'client ceiling' column "
        "was bounded by the client, not the server.",
    ]

    lines += ["", "DESIGN §14 bars:"]
    bars: list[tuple[str, str, float, float]] = [
        ("read-db", "signed read, DB nonces ≥ 1.0× minimal write (first bar)", 1.0, 0),
        ("read-redis", "signed read, Redis nonces ≥ 1.5× minimal write (goal)", 1.5, 0),
        ("write-db", "signed write ≥ 0.5× minimal write (first bar)", 0.5, 0),
        ("write-redis", "signed write (Redis) ≥ 0.5× minimal write (first bar)", 0.5, 0),
    ]
    for key, text, bar, _ in bars:
        if key in keys:
            value = _ratio(results, key, "write")
            lines.append(f"  [{'met ' if value >= bar else 'MISS'}] {text}: {value:.2f}×")
    for key in ("write-db", "write-redis"):
        if key in keys:
            low = median_phase(results.runs(key, "low"))
            ok = low.p99 <= 50
            lines.append(
                f"  [{'met ' if ok else 'MISS'}] {key}: p99 ≤ 50 ms at "
                f"{args.low_connections} connections: {low.p99:.1f} ms"
            )
    return "\n".join(lines)


def _machine(args: argparse.Namespace) -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    load = Path("/proc/loadavg").read_text().split()[:3]
    db = args.database_url.split("@")[-1] if args.database_url else "SQLite (temp file)"
    return (
        f"machine: {os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, "
        f"load average at start {' '.join(load)}\n"
        f"database: {db}; client processes: {args.client_procs}; repeats: {args.repeat}"
    )


async def run(args: argparse.Namespace, env: dict[str, str], work: Path) -> str:
    from bench import _apps, _setup  # noqa: PLC0415  (client processes import this module)

    write = WRITE_TARGETS[args.write_target]()
    sessions = _setup.session_maker(env["GATEWAY_DATABASE_URL"])
    await _apps.create_table(env["GATEWAY_DATABASE_URL"])
    use_redis = not args.no_redis and await _setup.redis_reachable(args.redis_url)
    if not use_redis:
        _log(f"Redis not used ({args.redis_url}): the Redis phases are skipped")
    stack = contextlib.ExitStack()
    try:
        baseline = stack.enter_context(serve("baseline", BASELINE_FACTORY, env, work))
        gw_db = stack.enter_context(serve("gateway-db-nonces", GATEWAY_FACTORY, env, work))
        gw_redis = (
            stack.enter_context(
                serve(
                    "gateway-redis",
                    GATEWAY_FACTORY,
                    {**env, "GATEWAY_REDIS_URL": args.redis_url},
                    work,
                )
            )
            if use_redis
            else None
        )
        _log("servers up; onboarding a partner through the API")
        import httpx  # noqa: PLC0415

        async with httpx.AsyncClient(base_url=gw_db.url, timeout=120) as client:
            bench = await _setup.onboard_partner(client, sessions, [write.scenario], env, work)
            await write.setup(bench)
            targets = [
                Target("echo", "bare Litestar echo", baseline, _echo_requests),
                Target("write", "minimal write (INSERT+commit)", baseline, _write_requests),
                Target(
                    "read-db", "signed GET /partners/me, DB nonces", gw_db, _signed_reads(bench)
                ),
            ]
            if gw_redis:
                targets.append(
                    Target(
                        "read-redis",
                        "signed GET /partners/me, Redis",
                        gw_redis,
                        _signed_reads(bench),
                    )
                )
            targets.append(
                Target(
                    "write-db",
                    f"signed {write.name}, DB nonces",
                    gw_db,
                    _signed_writes(bench, write),
                )
            )
            if gw_redis:
                targets.append(
                    Target(
                        "write-redis",
                        f"signed {write.name}, Redis",
                        gw_redis,
                        _signed_writes(bench, write),
                    )
                )
            if args.only:
                wanted = set(args.only.split(",")) | {"echo", "write"}
                targets = [t for t in targets if t.key in wanted]
            heading = f"{_machine(args)}\n{_setup.business_time(env)}\n"
            if args.profile:
                return heading + await _profile_targets(targets, args, work)
            results = Results()
            for repeat in range(args.repeat):
                await _measure(targets, args, results, repeat)
        payments = await _setup.decision_counts(sessions, EventType.TRANSACTION)
        return (
            f"{heading}{report(targets, results, args)}\nrisk decisions on the payments: {payments}"
        )
    finally:
        stack.close()
        await _apps.drop_table(env["GATEWAY_DATABASE_URL"])
        await sessions.kw["bind"].dispose()


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--database-url", help="an empty or migrated database; default: SQLite")
    parser.add_argument("--redis-url", default=DEFAULT_REDIS_URL)
    parser.add_argument("--no-redis", action="store_true", help="skip the Redis phases")
    parser.add_argument("--requests", type=int, default=1000, help="requests per phase")
    parser.add_argument(
        "--write-requests",
        type=int,
        help="requests per phase for the signed writes (default: --requests)",
    )
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--low-connections", type=int, default=8)
    parser.add_argument("--client-procs", type=int, default=1, help="load generator processes")
    parser.add_argument("--repeat", type=int, default=1, help="repeat the whole matrix")
    parser.add_argument("--write-target", choices=sorted(WRITE_TARGETS), default="fuel-transaction")
    parser.add_argument(
        "--only", help="comma-separated targets: read-db,read-redis,write-db,write-redis"
    )
    parser.add_argument(
        "--profile", help="instead of the matrix, py-spy these targets (e.g. read-db,write-db)"
    )
    parser.add_argument("--profile-top", type=int, default=25)
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs)")
    from bench._setup import add_business_time  # noqa: PLC0415  (see run)

    add_business_time(parser)
    args = parser.parse_args(argv)
    args.write_requests = args.write_requests or args.requests
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="bench-partner-api-"))
    url = args.database_url or f"sqlite+aiosqlite:///{work}/bench.db"
    from bench._setup import gateway_env  # noqa: PLC0415

    _log(f"work directory {work}; migrating {url.split('@')[-1]}")
    env = gateway_env(url, work, _public_url(), at=args.at)
    try:
        print(asyncio.run(run(args, env, work)))
    finally:
        if not args.keep:
            import shutil  # noqa: PLC0415

            shutil.rmtree(work, ignore_errors=True)
    return 0


def _public_url() -> str:
    from bench._setup import PUBLIC_URL  # noqa: PLC0415

    return PUBLIC_URL


if __name__ == "__main__":
    sys.exit(main())
