"""Run every benchmark of DESIGN §14 at small sizes, one after another, and collect the results.

    .venv/bin/python -m bench                                   # SQLite ones; PostgreSQL skipped
    .venv/bin/python -m bench --database-url postgresql+asyncpg://root@127.0.0.1:5432/postgres
    .venv/bin/python -m bench --scale 10 --json bench-results.json --only risk_scoring,funnel

Each benchmark runs as its own ``python -m bench.<name>`` process, exactly as a reader would run
it by hand, with sizes that finish in a few minutes in all (``--scale`` multiplies them). Every
benchmark measures the gateway and its baseline in the same run and prints both, the ratio and
the slope between two sizes; its output is echoed as it comes. The PostgreSQL-only benchmarks
(settlement, funnel) get a fresh database each on the server of ``--database-url`` (dropped
afterwards) and are skipped without one; the others use SQLite unless ``--pg-all`` is given.

``--json PATH`` writes::

    {"started_at": ISO-8601, "machine": {...}, "scale": float, "database": str | null,
     "benchmarks": [{"name", "command", "status": "ok" | "failed" | "skipped", "seconds",
                     "figures": [lines with a figure, its baseline, a ratio or a slope],
                     "data": [JSON objects the benchmark printed], "output": [every line]}]}
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Benchmark:
    """One ``bench.<name>`` module and its small-size arguments at a given scale."""

    name: str
    args: Callable[[float], list[str]]
    needs_postgres: bool = False


def _n(base: int, scale: float, floor: int = 10) -> str:
    return str(max(floor, round(base * scale)))


BENCHMARKS: tuple[Benchmark, ...] = (
    Benchmark(
        "partner_api",
        lambda s: ["--requests", _n(400, s, 40), "--repeat", "1", "--connections", "16"],
    ),
    Benchmark("batch_open", lambda s: ["--rows", _n(5_000, s, 100)]),
    Benchmark("risk_scoring", lambda s: ["--events", _n(5_000, s, 100)]),
    Benchmark(
        "settlement",
        lambda s: ["--transactions", _n(50_000, s, 1_000), "--partners", "5"],
        needs_postgres=True,
    ),
    Benchmark(
        "funnel",
        lambda s: ["--customers", _n(50_000, s, 1_000), "--sub-channels", "200", "--runs", "5"],
        needs_postgres=True,
    ),
)

# A line carries a figure worth keeping when it names a baseline, a ratio or a slope.
_FIGURE = re.compile(r"baseline|ratio|slope|×|\d\s?x\b|\bx\s?\d|req/s|/s\b|p9[59]| k = ", re.I)
_TABLE_HEADER = "phase "  # bench.harness.table: its rows (one per target) are figures too


@dataclass
class Result:
    name: str
    command: list[str]
    status: str
    seconds: float = 0.0
    figures: list[str] = field(default_factory=list)
    data: list[dict[str, Any]] = field(default_factory=list)
    output: list[str] = field(default_factory=list)


def machine() -> dict[str, Any]:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    return {
        "cores": os.cpu_count(),
        "cpu": cpu,
        "python": platform.python_version(),
        "load_average": Path("/proc/loadavg").read_text().split()[:3],
    }


def _parse(lines: Sequence[str]) -> tuple[list[str], list[dict[str, Any]]]:
    figures, data = [], []
    in_table = False
    for line in lines:
        text = line.strip()
        if text.startswith("{"):
            try:
                data.append(json.loads(text))
                continue
            except json.JSONDecodeError:
                pass
        if text.startswith(_TABLE_HEADER):
            in_table = True
        elif not text:
            in_table = False
        elif in_table or _FIGURE.search(text):
            figures.append(text)
    return figures, data


def run_one(bench: Benchmark, scale: float, database_url: str | None) -> Result:
    command = [sys.executable, "-m", f"bench.{bench.name}", *bench.args(scale)]
    if database_url:
        command += ["--database-url", database_url]
    print(f"\n=== {bench.name}: {' '.join(command[1:])}", flush=True)
    started = time.perf_counter()
    lines: list[str] = []
    with subprocess.Popen(
        command, cwd=ROOT, stdout=subprocess.PIPE, text=True, bufsize=1
    ) as proc:  # stderr (progress) goes straight to the terminal
        assert proc.stdout is not None
        for line in proc.stdout:
            print(line, end="", flush=True)
            lines.append(line.rstrip("\n"))
    seconds = time.perf_counter() - started
    figures, data = _parse(lines)
    status = "ok" if proc.returncode == 0 else "failed"
    shown = ["python", *command[1:]]
    return Result(bench.name, shown, status, round(seconds, 1), figures, data, lines)


async def _admin(url: str, sql: str) -> None:
    import asyncpg  # noqa: PLC0415

    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def _fresh_database(server_url: str, name: str) -> str:
    """Create an empty database named after the benchmark on ``server_url``'s server."""
    database = f"bench_{name}_{os.getpid()}"
    asyncio.run(_admin(server_url, f'CREATE DATABASE "{database}"'))
    return urlunsplit(urlsplit(server_url)._replace(path=f"/{database}"))


def _drop_database(server_url: str, url: str) -> None:
    database = urlsplit(url).path.lstrip("/")
    asyncio.run(_admin(server_url, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))


def run_all(
    benchmarks: Sequence[Benchmark], scale: float, server_url: str | None, pg_all: bool
) -> list[Result]:
    results = []
    for bench in benchmarks:
        use_pg = bench.needs_postgres or pg_all
        if use_pg and not server_url:
            print(f"\n=== {bench.name}: skipped (PostgreSQL only: give --database-url)")
            results.append(Result(bench.name, ["python", "-m", f"bench.{bench.name}"], "skipped"))
            continue
        url = _fresh_database(server_url, bench.name) if use_pg and server_url else None
        try:
            results.append(run_one(bench, scale, url))
        finally:
            if url and server_url:
                _drop_database(server_url, url)
    return results


def summary(results: Sequence[Result]) -> str:
    lines = ["", "=== summary (each figure beside its same-run baseline) ==="]
    for r in results:
        lines.append(f"{r.name} [{r.status}{f', {r.seconds:.0f} s' if r.seconds else ''}]")
        lines += [f"    {figure}" for figure in r.figures]
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_DATABASE_URL"),
        help="a PostgreSQL server (postgresql+asyncpg://…/postgres) on which each PostgreSQL "
        "benchmark gets a fresh database; default: $BENCH_DATABASE_URL, else they are skipped",
    )
    parser.add_argument(
        "--pg-all", action="store_true", help="run every benchmark on PostgreSQL, not only those"
    )
    parser.add_argument("--scale", type=float, default=1.0, help="multiply the default sizes")
    parser.add_argument("--only", help="comma-separated benchmark names")
    parser.add_argument("--json", type=Path, help="write the results as JSON to this path")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    chosen = BENCHMARKS
    if args.only:
        names = set(args.only.split(","))
        unknown = names - {b.name for b in BENCHMARKS}
        if unknown:
            raise SystemExit(f"unknown benchmark(s): {', '.join(sorted(unknown))}")
        chosen = tuple(b for b in BENCHMARKS if b.name in names)
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    info = machine()
    results = run_all(chosen, args.scale, args.database_url, args.pg_all)
    print(summary(results))
    if args.json:
        report = {
            "started_at": started_at,
            "machine": info,
            "scale": args.scale,
            "database": urlsplit(args.database_url).netloc.split("@")[-1]
            if args.database_url
            else None,
            "benchmarks": [asdict(r) for r in results],
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
        print(f"wrote {args.json}")
    return 1 if any(r.status == "failed" for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
