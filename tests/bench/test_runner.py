"""``python -m bench`` runs a benchmark and writes the documented JSON (sizes tiny, no timing)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_runner_writes_each_benchmark_with_its_figures_as_json(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench",
            "--only",
            "risk_scoring,funnel",
            "--scale",
            "0.01",
            "--json",
            str(out),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "BENCH_DATABASE_URL": ""},
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(out.read_text())
    assert set(report) == {"started_at", "machine", "scale", "database", "benchmarks"}
    assert report["scale"] == 0.01
    assert report["database"] is None
    assert report["machine"]["cores"] >= 1
    risk, funnel = report["benchmarks"]
    assert set(risk) == {"name", "command", "status", "seconds", "figures", "data", "output"}
    assert (risk["name"], risk["status"]) == ("risk_scoring", "ok")
    assert risk["command"] == ["python", "-m", "bench.risk_scoring", "--events", "100"]
    # the figures are the lines naming the gateway beside its baseline, and the slopes
    assert any("gateway/baseline" in line for line in risk["figures"])
    assert sum(line.startswith("slope ") for line in risk["figures"]) == 3
    assert set(risk["figures"]) <= set(risk["output"])
    # PostgreSQL-only benchmarks are reported as skipped when no server is given
    assert (funnel["name"], funnel["status"], funnel["figures"]) == ("funnel", "skipped", [])
    assert "=== summary" in done.stdout
