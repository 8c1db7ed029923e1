"""Where a server's CPU goes under load: py-spy samples the real process, this sums the stacks.

py-spy (``pip install py-spy``) samples only threads that are running, so the sample counts are
CPU time: the event loop's thread and, on SQLite, aiosqlite's worker thread. The summary shows
self time by package (where the cycles burn) and inclusive time of the project's own functions
(which step of the request costs what, its library calls included).
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

_FRAME = re.compile(r"^(?P<func>.+?) \((?P<file>[^()]*?)(?::\d+)?\)$")
_SITE = re.compile(r".*/(?:site|dist)-packages/")


def _py_spy() -> str | None:
    beside = Path(sys.executable).parent / "py-spy"  # installed in the venv, not on PATH
    return str(beside) if beside.exists() else shutil.which("py-spy")


def available() -> bool:
    return _py_spy() is not None


@contextmanager
def record(pid: int, output: Path, rate: int = 200) -> Iterator[None]:
    """Sample ``pid`` while the block runs (raw collapsed stacks to ``output``)."""
    spy = subprocess.Popen(
        [
            _py_spy() or "py-spy",
            "record",
            "--pid",
            str(pid),
            "--rate",
            str(rate),
            "--format",
            "raw",
            "--function",
            "--nonblocking",
            "--gil",
            "--output",
            str(output),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    time.sleep(1.0)  # attach
    try:
        yield
    finally:
        spy.send_signal(signal.SIGINT)
        _, err = spy.communicate(timeout=60)
        if not output.exists():
            raise RuntimeError(f"py-spy wrote nothing: {err.decode(errors='replace')}")


def _package(path: str) -> str:
    """``sqlalchemy`` for .../site-packages/sqlalchemy/orm/x.py, ``gateway.auth`` for ours."""
    if "/gateway/" in path or path.startswith("gateway/"):
        parts = path.split("gateway/", 1)[1].split("/")
        return "gateway." + parts[0].removesuffix(".py") if len(parts) > 1 else "gateway"
    stripped = _SITE.sub("", path)
    if stripped != path:
        return stripped.split("/", 1)[0].removesuffix(".py")
    if "python3" in path or path.startswith("<"):
        return "stdlib/" + Path(path).stem
    return path


def _frames(stack: str) -> list[tuple[str, str]]:
    out = []
    for frame in stack.split(";"):
        match = _FRAME.match(frame.strip())
        if match:
            out.append((match["func"], match["file"]))
    return out


def summarize(raw: Path, top: int = 25, keep: Callable[[str], bool] | None = None) -> str:
    """Self time by package; inclusive time of the project's functions (``keep`` filters them)."""
    keep = keep or (lambda file: "gateway/" in file or file.startswith("bench/"))
    total = 0
    by_package: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = _frames(stack)
        if not frames:
            continue
        total += count
        by_package[_package(frames[-1][1])] += count
        seen = set()
        for func, file in frames:
            if keep(file):
                name = f"{func} ({_short(file)})"
                if name not in seen:
                    seen.add(name)
                    inclusive[name] += count
    if not total:
        return "no samples"
    lines = [f"{total} samples", "", "self time by package:"]
    lines += [f"  {n / total:6.1%}  {pkg}" for pkg, n in by_package.most_common(top)]
    lines += ["", "inclusive time of the project's functions:"]
    lines += [f"  {n / total:6.1%}  {name}" for name, n in inclusive.most_common(top)]
    return "\n".join(lines)


def _short(path: str) -> str:
    for marker in ("gateway/", "bench/"):
        if marker in path:
            return marker + path.split(marker, 1)[1]
    return path
