"""Database engine, sessions and the shared metadata.

The request (or the job) owns the transaction: services only ``flush()``; :func:`provide_session`
commits when the handler returns and rolls back when it raises (STYLE §3).
"""

from __future__ import annotations

import enum
import functools
from collections.abc import AsyncGenerator, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from litestar import Request
from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.types import TypeDecorator
from sqlmodel import SQLModel

from gateway import clock
from gateway.settings import Settings

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
SQLModel.metadata.naming_convention = NAMING_CONVENTION
metadata = SQLModel.metadata


def utcnow() -> datetime:
    return clock.now()


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on both engines (SQLite stores naive values)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def create_engine(settings: Settings) -> AsyncEngine:
    if settings.is_sqlite:
        engine = create_async_engine(settings.database_url, connect_args={"timeout": 30})
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    return create_async_engine(
        settings.database_url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_pool_size,
        pool_pre_ping=settings.db_pool_pre_ping,
        pool_recycle=settings.db_pool_recycle_seconds,
    )


def autocommit(engine: AsyncEngine) -> AsyncEngine:
    """The same pool with every statement committed on its own.

    For hot paths of single statements (the partner front door): no BEGIN/COMMIT round trips.
    """
    return engine.execution_options(isolation_level="AUTOCOMMIT")


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


async def provide_session(request: Request[Any, Any, Any]) -> AsyncGenerator[AsyncSession, None]:
    """Per-request session: committed when the handler succeeds, rolled back when it raises."""
    factory: async_sessionmaker[AsyncSession] = request.app.state.session_factory
    async with factory() as session:
        request.state.db_session = session
        try:
            yield session
        except Exception:
            await session.rollback()
            raise
        else:
            await session.commit()


# -- set-based statements for large chunks (batch opening) ------------------------------------


def table_of(model: type[SQLModel]) -> sa.Table:
    """The Core table of a model: bulk inserts through it skip the ORM's per-row bookkeeping."""
    return SQLModel.metadata.tables[str(model.__tablename__)]


def dialect_insert(
    dialect_name: str, table: sa.Table | type[SQLModel]
) -> postgresql.Insert | sqlite.Insert:
    """The engine's own ``INSERT`` on ``table``, the one with ``ON CONFLICT`` clauses: the one
    place that picks PostgreSQL's or SQLite's (the engines the gateway runs on). For
    ``ON CONFLICT DO NOTHING`` take the prebuilt :func:`insert_once`; this is for the other
    forms (``DO UPDATE … WHERE … RETURNING``)."""
    return postgresql.insert(table) if dialect_name == "postgresql" else sqlite.insert(table)


@functools.cache
def insert_once(
    dialect_name: str, table: sa.Table, key: str | None = None, returning: str | None = None
) -> sa.Insert:
    """A prebuilt ``INSERT … ON CONFLICT [(key)] DO NOTHING [RETURNING returning]`` on
    ``table``, to execute as ``session.execute(stmt, values)``: of two concurrent twins the
    second waits for the first and inserts nothing, without an error that would abort the
    caller's transaction (and without a savepoint, which pysqlite cannot nest safely).

    Built once per process: a hot path pays for its parameters only, where building
    ``insert(Model).values(...)`` per call costs more than the round trip (SQLAlchemy derives
    the statement's cache key each time; docs/performance.md). Python-side column defaults
    fill the keys ``values`` leaves out, as for any Core insert.
    """
    stmt = dialect_insert(dialect_name, table).on_conflict_do_nothing(
        index_elements=[key] if key else None
    )
    return stmt.returning(table.c[returning]) if returning else stmt


async def insert_rows(
    session: AsyncSession, rows: Sequence[tuple[sa.Table, Mapping[str, Any]]]
) -> None:
    """Insert one row into each table, in the caller's transaction, in ONE round trip on
    PostgreSQL: every insert but the last is a data-modifying CTE of the last, and a foreign key
    between the rows is checked at the statement's end, when all of them are there. SQLite runs
    in process, with no round trip to save: one insert per row, in order. Python-side column
    defaults fill the keys a row leaves out, as for any Core insert.

    For hot paths that write a few related rows (an event and its decision, an event with its
    delivery and job): each statement saved is a round trip and SQLAlchemy's execution path.
    """
    if session.get_bind().dialect.name != "postgresql":
        for table, values in rows:
            await session.execute(table.insert(), values)
        return
    shape: list[tuple[sa.Table, tuple[str, ...]]] = []
    params: dict[str, Any] = {}
    for table, values in rows:
        full = {
            **{c.name: _default_of(c) for c in table.columns if c.default and c.name not in values},
            **values,
        }
        shape.append((table, tuple(full)))
        params.update({f"{table.name}__{k}": v for k, v in full.items()})
    await session.execute(_chained_insert(tuple(shape)), params)


@functools.cache
def _chained_insert(shape: tuple[tuple[sa.Table, tuple[str, ...]], ...]) -> sa.Insert:
    """The statement of :func:`insert_rows` for these tables and columns, built once; each
    value's parameter is ``<table>__<column>``."""

    def bound(table: sa.Table, columns: tuple[str, ...]) -> dict[str, Any]:
        return {c: sa.bindparam(f"{table.name}__{c}", type_=table.c[c].type) for c in columns}

    *first, (last, columns) = shape
    stmt = sa.insert(last).values(bound(last, columns))
    for n, (table, cols) in enumerate(first):
        stmt = stmt.add_cte(sa.insert(table).values(bound(table, cols)).cte(f"row{n}"))
    return stmt


def one_of(dialect: sa.Dialect, column: Any, values: Iterable[Any]) -> sa.ColumnElement[bool]:
    """``column IN (values)``, as ``column = ANY(:values)`` with ONE array parameter on
    PostgreSQL.

    An ``IN`` of a thousand values is a thousand bind parameters: SQLAlchemy expands and
    renders them on every execution, and PostgreSQL parses and plans a new statement for every
    list length. The array form is one cached statement, probing the column's index as the list
    does.
    """
    items = list(values)
    if dialect.name == "postgresql":
        array = sa.bindparam(None, items, type_=postgresql.ARRAY(column.type))
        return column == sa.any_(array)  # type: ignore[no-any-return]
    return column.in_(items)  # type: ignore[no-any-return]


def bulk_insert(
    dialect: sa.Dialect,
    table: sa.Table,
    rows: Sequence[Mapping[str, Any]],
    *,
    skip_conflicts: bool = False,
    conflict_on: Sequence[str] = (),
    returning: str | None = None,
) -> tuple[sa.Executable, Any]:
    """A multi-row ``INSERT`` of ``rows`` (dicts with the same keys) and its parameters, to
    execute as ``session.execute(*bulk_insert(...))`` (``session.scalars`` with
    ``returning``): with ``skip_conflicts`` a row that breaks a unique constraint (the one on
    ``conflict_on``, or any) is skipped, and ``returning`` names the column to answer for the
    rows inserted. The table's Python-side column defaults fill the keys the rows leave out.

    On PostgreSQL it is ``INSERT … SELECT * FROM unnest(:col1, :col2, …)``: one array parameter
    per column, so a thousand-row chunk is one small cached statement instead of SQLAlchemy's
    multi-row ``VALUES`` of one parameter per value (rendered, bound and planned on every
    chunk, the largest database cost of a batch). A column with the same value in every row (a
    chunk's partner, channel, batch, moment; the keys an event type never has) is one scalar
    parameter instead: asyncpg encodes, and PostgreSQL unnests, a thousand-element array per
    column, and about half the columns of a chunk's rows are constant. Elsewhere it is that
    ``INSERT`` executed with the list of rows.
    """
    if dialect.name != "postgresql":
        stmt: Any = sqlite.insert(table)
        if skip_conflicts:
            stmt = stmt.on_conflict_do_nothing(index_elements=list(conflict_on) or None)
        if returning is not None:
            stmt = stmt.returning(table.c[returning])
        return stmt, list(rows)
    given = list(rows[0]) if rows else []
    defaults = {c.name: _default_of(c) for c in table.columns if c.name not in given and c.default}
    names = [*given, *defaults]
    quote = dialect.identifier_preparer.quote
    values_of: dict[str, Any] = {}
    arrays: list[str] = []
    selected: list[str] = []
    params: list[sa.BindParameter[Any]] = []
    for n, name in enumerate(names):
        column = table.c[name]
        values = [r[name] for r in rows] if name in given else [defaults[name]] * len(rows)
        json = isinstance(column.type, sa.JSON)
        if json:  # sent as text: asyncpg has no json[] codec of ours
            serialize = column.type.bind_processor(dialect)
            values = [serialize(v) if serialize else v for v in values]
        key = f"c{n}"
        sql_type = column.type.compile(dialect=dialect)
        if n and values and _constant(values):  # the first column is an array: the row count
            value = values[0].value if isinstance(values[0], enum.Enum) else values[0]
            values_of[key] = value
            params.append(sa.bindparam(key, type_=sa.Text() if json else column.type))
            selected.append(f"CAST(:{key} AS {sql_type})")
            continue
        values_of[key] = [v.value if isinstance(v, enum.Enum) else v for v in values]
        element = sa.Text() if json else column.type
        params.append(sa.bindparam(key, type_=postgresql.ARRAY(element)))
        arrays.append(key)
        selected.append(f"u.{key}::{sql_type}" if json else f"u.{key}")
    unnest = ", ".join(f":{key}" for key in arrays)
    sql = (
        f"INSERT INTO {quote(table.name)} ({', '.join(quote(n) for n in names)}) "  # noqa: S608
        f"SELECT {', '.join(selected)} FROM unnest({unnest}) AS u({', '.join(arrays)})"
    )
    if skip_conflicts:
        target = f" ({', '.join(quote(c) for c in conflict_on)})" if conflict_on else ""
        sql += f" ON CONFLICT{target} DO NOTHING"
    if returning is not None:
        sql += f" RETURNING {quote(returning)}"
    return sa.text(sql).bindparams(*params), values_of


def _constant(values: Sequence[Any]) -> bool:
    """Whether every value is the first one, of the same type (``1 == True``, but not as SQL)."""
    first = values[0]
    kind = type(first)
    return all(v == first and type(v) is kind for v in values)


def _default_of(column: sa.Column[Any]) -> Any:
    """A column's Python-side default for a row that leaves it out (scalar or callable)."""
    default: Any = column.default
    return default.arg(None) if default.is_callable else default.arg
