"""Real servers, a closed-loop load generator and the report, shared by the benchmarks (DESIGN §14).

* :func:`serve` starts ``uvicorn --factory`` (one worker) on a free loopback port and waits until
  it answers; every server of a run is started the same way, so the baselines and the gateway
  differ only in the application.
* :func:`run_load` replays pre-built HTTP/1.1 requests over N keep-alive connections, each sending
  its next request as soon as the previous answer is read (closed loop), from one or more client
  processes. Requests are serialised (and signed) before the clock starts, so the client's own
  cost per request is a socket write and a header parse; its CPU is measured all the same and
  reported as a ceiling, so a reader can tell when the client, not the server, was the limit.
* Each phase also records the server process's CPU time (from ``/proc``) and how busy the whole
  machine was, because this 2-core machine is shared: CPU ms per request moves far less with
  other people's load than requests/s does.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import multiprocessing as mp
import os
import socket
import statistics
import subprocess
import sys
import time
from array import array
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import httpx

HOST = "127.0.0.1"
_TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process (its threads included), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS  # utime, stime


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine spent busy (all cores), from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return (sum(values[:8]) - idle) / _TICKS


@dataclass
class Server:
    """A server process on a loopback port."""

    name: str
    proc: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def cpu_seconds(self) -> float:
        return process_cpu_seconds(self.proc.pid)


@contextlib.contextmanager
def serve(
    name: str,
    factory: str,
    env: Mapping[str, str],
    log_dir: Path,
    *,
    ready_path: str = "/health",
    timeout: float = 60.0,
) -> Iterator[Server]:
    """Run ``uvicorn --factory FACTORY`` with one worker on a free loopback port."""
    port = free_port()
    log = log_dir / f"{name}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "--factory",
                factory,
                "--host",
                HOST,
                "--port",
                str(port),
                "--workers",
                "1",
                "--log-level",
                "warning",
                "--no-access-log",
            ],
            env=dict(env),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    server = Server(name, proc, port, log)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited:\n{log.read_text()[-4000:]}")
            try:
                if httpx.get(server.url + ready_path, timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"{name} did not start:\n{log.read_text()[-4000:]}")
            time.sleep(0.2)
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def http_request(
    method: str, path: str, headers: Mapping[str, str] | None = None, body: bytes = b""
) -> bytes:
    """One HTTP/1.1 keep-alive request, serialised."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: {HOST}"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    if body or method in ("POST", "PUT", "PATCH"):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


# --- the load generator ---------------------------------------------------------------------


@dataclass
class _ClientReport:
    latencies: bytes  # array('d') of seconds, in completion order
    statuses: dict[int, int]
    first_error: str
    cpu_seconds: float
    started: float
    finished: float


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        lowered = name.strip().lower()
        if lowered == b"content-length":
            length = int(value)
        elif lowered == b"transfer-encoding":
            raise RuntimeError("chunked responses are not supported by the load generator")
    body = await reader.readexactly(length) if length else b""
    return status, body


async def _drive(port: int, requests: Sequence[bytes], connections: int) -> _ClientReport:
    latencies = array("d")
    statuses: dict[int, int] = {}
    first_error = ""
    cursor = iter(range(len(requests)))
    streams = [await asyncio.open_connection(HOST, port) for _ in range(connections)]

    async def loop(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal first_error
        clock = time.perf_counter
        for index in cursor:
            t0 = clock()
            writer.write(requests[index])
            status, body = await _read_response(reader)
            latencies.append(clock() - t0)
            statuses[status] = statuses.get(status, 0) + 1
            if status >= 300 and not first_error:
                first_error = f"{status} {body[:500]!r}"

    cpu0, started = time.process_time(), time.time()
    await asyncio.gather(*(loop(r, w) for r, w in streams))
    finished, cpu = time.time(), time.process_time() - cpu0
    for _, w in streams:
        w.close()
    return _ClientReport(latencies.tobytes(), statuses, first_error, cpu, started, finished)


def _client_main(
    port: int, requests: Sequence[bytes], connections: int, pipe: Connection, go: Any
) -> None:
    with contextlib.suppress(ImportError):
        import uvloop  # noqa: PLC0415

        uvloop.install()
    pipe.send("ready")
    go.wait()
    try:
        pipe.send(asyncio.run(_drive(port, requests, connections)))
    except Exception as e:  # the parent raises it: a dead client must not hang the run
        pipe.send(f"load generator failed: {type(e).__name__}: {e}")
    pipe.close()


@dataclass
class Phase:
    """One measured phase: a target at a concurrency, and what the machine did meanwhile."""

    name: str
    connections: int
    requests: int
    seconds: float
    latencies: list[float]
    statuses: dict[int, int]
    first_error: str
    server_cpu: float
    client_cpu: float
    machine_busy: float
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    def percentile(self, q: float) -> float:
        """Nearest-rank percentile of the latencies, in ms."""
        data = self.latencies
        return data[max(0, math.ceil(q / 100 * len(data)) - 1)] * 1000

    @property
    def p50(self) -> float:
        return self.percentile(50)

    @property
    def p99(self) -> float:
        return self.percentile(99)

    @property
    def errors(self) -> int:
        return sum(n for s, n in self.statuses.items() if s >= 300)

    @property
    def server_ms_per_request(self) -> float:
        return self.server_cpu / self.requests * 1000

    @property
    def client_ceiling(self) -> float:
        """Requests/s the client could drive with one whole core (its CPU per request)."""
        return self.requests / self.client_cpu if self.client_cpu else math.inf

    @property
    def rest_cores(self) -> float:
        """Cores busy with anything but this server and its client: the database, Redis and
        whoever else shares the machine."""
        return max(0.0, self.machine_busy - self.server_cpu - self.client_cpu) / self.seconds


def run_load(
    name: str,
    server: Server,
    requests: Sequence[bytes],
    connections: int,
    *,
    client_procs: int = 1,
    timeout: float = 900.0,
) -> Phase:
    """Replay ``requests`` over ``connections`` closed-loop connections against ``server``."""
    procs = max(1, min(client_procs, connections))
    ctx = mp.get_context("spawn")
    go = ctx.Event()
    children = []
    for n in range(procs):
        share = list(requests[n::procs])
        conns = connections // procs + (1 if n < connections % procs else 0)
        parent, child = ctx.Pipe()
        proc = ctx.Process(
            target=_client_main, args=(server.port, share, conns, child, go), daemon=True
        )
        proc.start()
        children.append((proc, parent))
    for _, parent in children:
        if parent.recv() != "ready":
            raise RuntimeError("load generator did not start")
    server_cpu0, busy0 = server.cpu_seconds(), machine_busy_seconds()
    go.set()
    deadline = time.monotonic() + timeout
    answers: list[_ClientReport | str] = []
    try:
        for _, parent in children:
            if not parent.poll(max(0.0, deadline - time.monotonic())):
                raise TimeoutError(f"{name}: no answer from the load generator in {timeout:.0f} s")
            answers.append(parent.recv())
    finally:
        for proc, _ in children:
            if proc.is_alive() and len(answers) < len(children):
                proc.terminate()
            proc.join()
    server_cpu, busy = server.cpu_seconds() - server_cpu0, machine_busy_seconds() - busy0
    failed = [a for a in answers if isinstance(a, str)]
    if failed:
        raise RuntimeError(f"{name}: {failed[0]}")
    reports = [a for a in answers if isinstance(a, _ClientReport)]
    latencies = array("d")
    statuses: dict[int, int] = {}
    for r in reports:
        latencies.frombytes(r.latencies)
        for status, count in r.statuses.items():
            statuses[status] = statuses.get(status, 0) + count
    seconds = max(r.finished for r in reports) - min(r.started for r in reports)
    return Phase(
        name=name,
        connections=connections,
        requests=len(latencies),
        seconds=seconds,
        latencies=sorted(latencies),
        statuses=statuses,
        first_error=next((r.first_error for r in reports if r.first_error), ""),
        server_cpu=server_cpu,
        client_cpu=sum(r.cpu_seconds for r in reports),
        machine_busy=busy,
    )


# --- the report -------------------------------------------------------------------------------


def slope(full: Phase, tenth: Phase) -> float:
    """k in time ∝ size^k between the full and the 1/10 run (1.0 is linear)."""
    return math.log(full.seconds / tenth.seconds) / math.log(full.requests / tenth.requests)


def median_phase(runs: Sequence[Phase]) -> Phase:
    """The repeat whose throughput is the median (its latencies stay its own)."""
    ordered = sorted(runs, key=lambda p: p.rps)
    return ordered[(len(ordered) - 1) // 2]


def spread(runs: Sequence[Phase]) -> str:
    if len(runs) < 2:
        return ""
    rates = [p.rps for p in runs]
    return f"{min(rates):,.0f}–{max(rates):,.0f}"


COLUMNS = (
    ("phase", 44, "<"),
    ("conns", 5, ">"),
    ("reqs", 6, ">"),
    ("req/s", 8, ">"),
    ("p50 ms", 7, ">"),
    ("p99 ms", 7, ">"),
    ("srv CPU ms/req", 14, ">"),
    ("client ceiling", 14, ">"),
    ("rest cores", 10, ">"),
    ("repeats req/s", 13, ">"),
)


def table(rows: Sequence[Sequence[Phase]]) -> str:
    """One line per phase (median of its repeats) with the figures DESIGN §14 asks for."""
    out = ["  ".join(f"{title:{align}{width}}" for title, width, align in COLUMNS)]
    for runs in rows:
        p = median_phase(runs)
        cells = (
            p.name,
            str(p.connections),
            str(p.requests),
            f"{p.rps:,.0f}",
            f"{p.p50:.1f}",
            f"{p.p99:.1f}",
            f"{p.server_ms_per_request:.2f}",
            f"{p.client_ceiling:,.0f}",
            f"{p.rest_cores:.2f}",
            spread(runs),
        )
        out.append(
            "  ".join(
                f"{cell:{align}{width}}"
                for cell, (_, width, align) in zip(cells, COLUMNS, strict=True)
            )
        )
    return "\n".join(out)


def median(values: Sequence[float]) -> float:
    return statistics.median(values)
