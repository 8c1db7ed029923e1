"""The partner API benchmark runs end to end at a tiny size and prints its figures (no timing)."""

from __future__ import annotations

import ast
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bench._setup import shift_to
from bench.harness import Phase, slope
from tests.conftest import IS_PG

ROOT = Path(__file__).resolve().parents[2]


def _phase(requests: int, seconds: float) -> Phase:
    return Phase(
        name="x",
        connections=1,
        requests=requests,
        seconds=seconds,
        latencies=sorted(i / 1000 for i in range(1, requests + 1)),
        statuses={200: requests},
        first_error="",
        server_cpu=1.0,
        client_cpu=0.5,
        machine_busy=2.0,
    )


def test_figures_from_a_phase() -> None:
    phase = _phase(100, 2.0)
    assert phase.rps == 50
    assert phase.p50 == pytest.approx(50.0)
    assert phase.p99 == pytest.approx(99.0)
    assert phase.server_ms_per_request == pytest.approx(10.0)
    assert phase.client_ceiling == 200
    assert slope(_phase(1000, 10.0), _phase(100, 1.0)) == pytest.approx(1.0)
    assert slope(_phase(1000, 100.0), _phase(100, 1.0)) == pytest.approx(2.0)


@pytest.mark.slow
@pytest.mark.skipif(
    IS_PG, reason="runs once, on its own SQLite file; the PostgreSQL pass adds nothing"
)
def test_benchmark_runs_at_a_tiny_size() -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.partner_api",
            "--requests",
            "40",
            "--connections",
            "4",
            "--low-connections",
            "2",
            "--at",  # night: every payment after a station's tenth is reviewed (night_burst)
            "02:30",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    out = done.stdout
    for label in (
        "bare Litestar echo",
        "minimal write (INSERT+commit)",
        "signed GET /partners/me, DB nonces",
        "signed fuel transaction, DB nonces",
    ):
        assert out.count(label) >= 4, (label, out)  # three tables and the slope list
    assert "× the minimal write" in out
    assert "slope k" in out
    assert "p99 ≤ 50 ms at 2 connections" in out
    assert "client:" in out
    assert "business time: 02:3" in out
    payments = ast.literal_eval(out.split("risk decisions on the payments: ")[1].splitlines()[0])
    assert payments["review"] > payments.get("allow", 0)  # the servers ran at 02:30 Shanghai


def test_business_time_is_pinned_to_an_hour_of_the_shanghai_day() -> None:
    at_night = datetime(2026, 11, 30, 18, 40, tzinfo=UTC)  # 02:40 in Shanghai
    assert shift_to("12:00", at_night) == (9 * 60 + 20) * 60
    assert shift_to("02:30", at_night) == -10 * 60
    assert shift_to("now", at_night) == 0
