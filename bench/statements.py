"""What one SQL statement costs the gateway's process, by how it is built and run (ADR 0021).

CPU time per execution of the same one-row primary-key read, on a scratch table of the given
database, built and run each way the code base can: an ORM entity select built per call,
``session.get``, the ORM select built once, a Core select built per call, a Core statement built
once (through the session and on the connection), and on PostgreSQL raw asyncpg, the baseline:
the least work that reads the row. Not a DESIGN §14 benchmark; it is the measurement behind the rule
"prebuild statements on hot paths".

Then two related rows (a child with a foreign key to its parent), written with one prebuilt
insert each, and with ``gateway.db.insert_rows`` (one statement on PostgreSQL): what ``emit`` and
the risk engine's event and decision save.

    .venv/bin/python -m bench.statements --database-url postgresql+asyncpg://root@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import time
from collections.abc import Awaitable, Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
from sqlmodel import Field, SQLModel, select

from gateway.db import insert_rows

TABLE = "bench_statement_costs"


class Row(SQLModel, table=True):
    __tablename__ = TABLE
    metadata = sa.MetaData()  # kept out of the gateway's metadata and migrations

    id: str = Field(primary_key=True, max_length=40)
    partner_id: str = Field(max_length=40)
    amount: int = 0


class Child(SQLModel, table=True):
    __tablename__ = f"{TABLE}_child"
    metadata = Row.metadata

    id: str = Field(primary_key=True, max_length=40)
    row_id: str = Field(foreign_key=f"{TABLE}.id", max_length=40)
    amount: int = 0


async def _per_call(run: Callable[[], Awaitable[Any]], count: int) -> float:
    for _ in range(count // 10):  # warm the caches: compiled statements, prepared statements
        await run()
    start = time.process_time()
    for _ in range(count):
        await run()
    return (time.process_time() - start) / count * 1e6


async def measure(url: str, count: int) -> list[tuple[str, float]]:
    engine = create_async_engine(url)
    table = Row.__table__  # type: ignore[attr-defined]
    async with engine.begin() as conn:
        await conn.run_sync(Row.metadata.create_all)
        await conn.execute(sa.insert(table), {"id": "r1", "partner_id": "p1", "amount": 1})
    prebuilt_orm = select(Row).where(table.c.id == sa.bindparam("id"))
    prebuilt_core = sa.select(table.c.amount).where(table.c.id == sa.bindparam("id"))
    results: list[tuple[str, float]] = []
    try:
        async with AsyncSession(engine) as session:
            conn = await session.connection()
            driver: Any = (await conn.get_raw_connection()).driver_connection

            async def orm_built() -> Any:
                session.expunge_all()
                return await session.scalar(select(Row).where(Row.id == "r1"))  # type: ignore[arg-type]

            async def orm_get() -> Any:
                session.expunge_all()
                return await session.get(Row, "r1")

            async def orm_prebuilt() -> Any:
                session.expunge_all()
                return await session.scalar(prebuilt_orm, {"id": "r1"})

            ways: list[tuple[str, Callable[[], Awaitable[Any]]]] = [
                ("ORM select built per call", orm_built),
                ("session.get", orm_get),
                ("ORM select built once", orm_prebuilt),
                (
                    "Core select built per call (session)",
                    lambda: session.scalar(sa.select(table.c.amount).where(table.c.id == "r1")),
                ),
                (
                    "Core select built once (session)",
                    lambda: session.scalar(prebuilt_core, {"id": "r1"}),
                ),
                (
                    "Core select built once (connection)",
                    lambda: conn.scalar(prebuilt_core, {"id": "r1"}),
                ),
            ]
            if engine.dialect.name == "postgresql":
                sql = f"SELECT amount FROM {TABLE} WHERE id = $1"  # noqa: S608
                ways.append(("raw asyncpg (baseline)", lambda: driver.fetchval(sql, "r1")))
            for label, run in ways:
                results.append((label, await _per_call(run, count)))
            results += await _related_rows(session, table, Child.__table__, count)  # type: ignore[attr-defined]
            await session.rollback()
    finally:
        async with engine.begin() as conn:
            await conn.run_sync(Row.metadata.drop_all)
        await engine.dispose()
    return results


async def _related_rows(
    session: AsyncSession, parent: sa.Table, child: sa.Table, count: int
) -> list[tuple[str, float]]:
    serial = itertools.count()
    to_parent, to_child = sa.insert(parent), sa.insert(child)

    def rows() -> tuple[dict[str, Any], dict[str, Any]]:
        n = next(serial)
        return (
            {"id": f"p{n}", "partner_id": "p1", "amount": 1},
            {"id": f"c{n}", "row_id": f"p{n}", "amount": 1},
        )

    async def one_each() -> None:
        first, second = rows()
        await session.execute(to_parent, first)
        await session.execute(to_child, second)

    async def together() -> None:
        first, second = rows()
        await insert_rows(session, [(parent, first), (child, second)])

    return [
        ("parent + child: a prebuilt insert each", await _per_call(one_each, count)),
        ("parent + child: insert_rows", await _per_call(together, count)),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--database-url", required=True, help="postgresql+asyncpg://… or sqlite+aiosqlite://…"
    )
    parser.add_argument("--count", type=int, default=2000, help="executions per way")
    args = parser.parse_args()
    results = asyncio.run(measure(args.database_url, args.count))
    reads, writes = results[:-2], results[-2:]
    for title, part in (("one primary-key read", reads), ("two related rows", writes)):
        base = min(micros for _, micros in part)
        print(f"{title:42s} {'µs CPU':>8s} {'× fastest':>9s}")
        for label, micros in part:
            print(f"{label:42s} {micros:8.0f} {micros / base:8.1f}×")


if __name__ == "__main__":
    main()
