"""bench.statements measures every way of running one statement, and two related inserts."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from bench.statements import measure


def test_every_way_is_measured_on_a_scratch_table_that_is_dropped(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'statements.db'}"
    results = asyncio.run(measure(url, count=20))
    assert [label for label, _ in results] == [
        "ORM select built per call",
        "session.get",
        "ORM select built once",
        "Core select built per call (session)",
        "Core select built once (session)",
        "Core select built once (connection)",
        "parent + child: a prebuilt insert each",
        "parent + child: insert_rows",
    ]
    assert all(micros > 0 for _, micros in results)
    with sqlite3.connect(tmp_path / "statements.db") as db:
        tables = db.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    assert tables == []
